"""The groups of a stacked sweep trained in other processes, through submitit: local workers or Slurm jobs.

- `hydra.launcher.workers=N`: N local processes at once (submitit's local executor), each training its share
  of the groups one after another, the shares balanced by members. On GPUs each worker sees one device
  (`visible_gpus`); on a CPU each takes its share of the cores (torch's threads).
- `hydra.launcher.cluster=slurm`: each group is one Slurm job (submitit's Slurm executor, with the keys of
  `hydra/launcher=slurm`); `cluster=local` takes the same path with the local executor, a process per group.

The launcher makes the job folders first (launch.py); a job's process only trains its groups (train_group).
On submitit's preemption signal (SIGUSR2, which Slurm also sends before a job's time limit) the stacked loop
stops at the end of its step and writes each member's last.ckpt; then submitit's handler calls `checkpoint()`,
which returns the same job marked `requeued`. Requeued, it keeps the members that finished and continues the
others from their last.ckpt (resume.py), as `hydra.launcher.resume=true` does.
"""

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import submitit
from omegaconf import DictConfig, OmegaConf

from litlab.record import optimized_value
from litlab.stacked.member import LOG_FORMAT

log = logging.getLogger("litlab.stacked")

CLUSTERS = (None, "local", "slurm")
# Keys of the launcher's config that are not submitit's.
OWN_KEYS = {"_target_", "max_members", "resume", "workers", "cluster", "submitit_folder", "max_num_timeout"}


@dataclass
class Group:
    number: int  # its number in the sweep's log
    jobs: list[tuple[int, DictConfig, DictConfig]]  # (job number, config, Hydra config), folders made
    resume: bool  # its members continue from their last.ckpt


class GroupJob(submitit.helpers.Checkpointable):
    """What one submitit job runs: its groups, one after another; each group's values, in its jobs' order."""

    def __init__(self, groups: list[Group], threads: int | None = None):
        self.groups, self.threads, self.requeued = groups, threads, False

    def __call__(self) -> list[list[float | None]]:
        import gc

        import torch

        import litlab.stacked.train  # noqa: F401 (torch and Lightning, before the collector is told to skip them)

        gc.freeze()  # as in the launcher's process: what is loaded by now lives as long as the process
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, force=True)  # into submitit's log files
        if self.threads:
            torch.set_num_threads(self.threads)
        return [self._train(group) for group in self.groups]

    def _train(self, group: Group) -> list[float | None]:
        from litlab.stacked.job_folders import finished
        from litlab.stacked.train import train_group

        numbers = [idx for idx, _, _ in group.jobs]
        jobs, values, resume = group.jobs, {}, group.resume
        if self.requeued:  # what finished before the preemption stays; the rest continues or starts
            jobs = []
            for idx, cfg, hydra_cfg in group.jobs:
                metrics = finished(Path(cfg.paths.output_dir))
                if metrics is None:
                    jobs.append((idx, cfg, hydra_cfg))
                else:
                    values[idx] = optimized_value(cfg, metrics)
            resume = any((Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt").is_file() for _, cfg, _ in jobs)
        if jobs:
            log.info("group %d: training jobs %s%s", group.number, numbers, " (continued)" if resume else "")
            values.update(zip([idx for idx, _, _ in jobs], train_group(jobs, group=numbers, resume=resume)))
        return [values.get(idx) for idx in numbers]

    def checkpoint(self) -> submitit.helpers.DelayedSubmission:
        """Called by submitit on SIGUSR2, once the loop has written its members' checkpoints: this job again."""
        self.requeued = True
        return submitit.helpers.DelayedSubmission(self)


def check(launcher) -> None:
    """A bad `cluster` or `workers` stops the sweep before any job runs, in one line."""
    from litlab.errors import LitlabError

    if launcher.cluster not in CLUSTERS:
        raise LitlabError(f"hydra.launcher.cluster={launcher.cluster} is not allowed: null, local or slurm")
    if isinstance(launcher.workers, bool) or not isinstance(launcher.workers, int) or launcher.workers < 1:
        raise LitlabError(f"hydra.launcher.workers={launcher.workers} is not allowed: a number of processes >= 1")


def elsewhere(launcher) -> bool:
    """The groups train in other processes (submitit), not in the launcher's."""
    return launcher.cluster is not None or launcher.workers > 1


def shares(groups: list[Group], workers: int) -> list[list[Group]]:
    """The groups dealt to `workers` processes, each next largest group to the process with the fewest members."""
    out = [[] for _ in range(min(workers, len(groups)))]
    for group in sorted(groups, key=lambda g: -len(g.jobs)):
        min(out, key=lambda share: sum(len(g.jobs) for g in share)).append(group)
    return [sorted(share, key=lambda g: g.number) for share in out]


def submit(launcher, groups: list[Group]) -> list[tuple[list[Group], object]]:
    """Each submitit job with the groups it trains; `job.result()` gives their values."""
    folder = launcher.queue.get("submitit_folder") or str(Path(str(launcher.config.hydra.sweep.dir)) / ".submitit/%j")
    if launcher.cluster is not None:
        executor = executor_for(launcher, folder)
        if launcher.cluster == "slurm":
            with executor.batch():  # one job array
                jobs = [executor.submit(GroupJob([group])) for group in groups]
        else:
            jobs = [executor.submit(GroupJob([group])) for group in groups]
        out = [([group], job) for group, job in zip(groups, jobs)]
    else:
        import torch

        out = []
        per_worker = shares(groups, launcher.workers)
        gpus = torch.cuda.device_count()
        threads = max(1, _cores() // len(per_worker))
        executor = submitit.LocalExecutor(folder)
        for i, share in enumerate(per_worker):
            if gpus:
                executor.update_parameters(gpus_per_node=1, visible_gpus=[i % gpus], timeout_min=_timeout(launcher))
            else:
                executor.update_parameters(timeout_min=_timeout(launcher))
            out.append((share, executor.submit(GroupJob(share, None if gpus else threads))))
    for share, job in out:
        numbers = ", ".join(str(g.number) for g in share)
        log.info("\tgroup(s) %s: submitit job %s (its log: %s)", numbers, job.job_id, job.paths.stdout)
    return out


def executor_for(launcher, folder: str):
    """submitit's executor for `cluster`, set up from the launcher's keys as hydra-submitit-launcher does it."""
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    queue = {k: v for k, v in launcher.queue.items() if k not in OWN_KEYS}
    if launcher.cluster == "local":
        executor = submitit.LocalExecutor(folder, max_num_timeout=launcher.queue.get("max_num_timeout", 3))
        executor.update_parameters(timeout_min=_timeout(launcher), gpus_per_node=queue.get("gpus_per_node") or 0)
        return executor
    executor = submitit.AutoExecutor(
        folder=folder, cluster="slurm", slurm_max_num_timeout=launcher.queue.get("max_num_timeout", 3)
    )
    generic = set(OmegaConf.structured(BaseQueueConf).keys())
    params = {k if k in generic else f"slurm_{k}": v for k, v in queue.items() if v is not None}
    params = {k: (OmegaConf.to_container(v) if OmegaConf.is_config(v) else v) for k, v in params.items()}
    executor.update_parameters(**params)
    return executor


def _timeout(launcher) -> int:
    return int(launcher.queue.get("timeout_min") or 60)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
