"""What `hydra/launcher=stacked` does with a sweep's jobs: group them, run each group as one model.

1. Every job's config is composed (Hydra's `load_sweep_config`, as the basic launcher does), or taken as
   the sweeper composed it to check the batch (compose_once.py).
2. Jobs that cannot stack (grouping.unstackable), and groups of one, run one after another through
   Hydra's `run_job` with the task function: exactly the basic launcher's run.
3. Each group's jobs first pass through `run_job` too, with a task that checks the job's config and keeps
   it: Hydra creates the job's folder, writes `.hydra/` and calls the job callbacks as for any job. A job
   whose config is refused runs right there through the task function, and fails alone as it would.
4. The group's remaining members are built, trained and tested together (loop.py); each job's return
   value is then filled in, in the order the sweeper gave the jobs.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from omegaconf import DictConfig, open_dict

from litlab.stacked.grouping import group_key, split, unstackable

log = logging.getLogger("litlab.stacked")


@dataclass
class Job:
    idx: int
    overrides: list[str]
    config: DictConfig  # the whole composed config, the hydra node included


class _Pending:
    """The return value of a job whose training happens later, with its group: the job's config."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg


def launch(launcher, job_overrides, initial_job_idx: int) -> list[JobReturn]:
    setup_globals()
    config = launcher.config
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    jobs = []
    for offset, overrides in enumerate(job_overrides):
        job_config = launcher.hydra_context.config_loader.take(config, list(overrides))
        with open_dict(job_config):
            job_config.hydra.job.id = job_config.hydra.job.num = initial_job_idx + offset
        jobs.append(Job(initial_job_idx + offset, list(overrides), job_config))

    alone, groups = [], {}
    for job in jobs:
        try:
            reason = unstackable(job.config)
        except Exception as error:  # a config the checks will refuse: the job runs (and fails) alone
            reason = f"its config ({error})"
        if reason:
            alone.append((job, reason))
        else:
            groups.setdefault(group_key(job.config), []).append(job)
    chunks = []
    for members in groups.values():
        if len(members) == 1:
            alone.append((members[0], "nothing to stack it with"))
        else:
            chunks += split(members, launcher.max_members)
    log.info(
        "Launching %d jobs: %d stacked in %d group(s), %d alone",
        len(jobs),
        sum(map(len, chunks)),
        len(chunks),
        len(alone),
    )
    for number, chunk in enumerate(chunks, 1):
        log.info("\tgroup %d (%d members): jobs %s", number, len(chunk), ", ".join(f"#{j.idx}" for j in chunk))

    returns: dict[int, JobReturn] = {}
    for job, reason in sorted(alone, key=lambda pair: pair[0].idx):
        log.info("\t#%d : %s (alone: %s)", job.idx, " ".join(filter_overrides(job.overrides)), reason)
        returns[job.idx] = _run(launcher, job, launcher.task_function)
        configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    for number, chunk in enumerate(chunks, 1):
        returns.update(_run_group(launcher, chunk, number))
        configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    return [returns[job.idx] for job in jobs]


def _run(launcher, job: Job, task) -> JobReturn:
    return run_job(
        hydra_context=launcher.hydra_context,
        task_function=task,
        config=job.config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


def _run_group(launcher, chunk: list[Job], number: int) -> dict[int, JobReturn]:
    from litlab.stacked.train import train_group

    def prepare(cfg: DictConfig):
        """The job's task while its group forms: check its config; a refused one runs (and fails) now."""
        import logging as logging_

        from litlab.config.checks import check_run

        logging_.getLogger("lightning").handlers.clear()  # as litlab.run.main does
        try:
            check_run(cfg)
        except Exception:
            return launcher.task_function(cfg)
        # `cfg` is the job's own copy (run_job made it for this task; nothing else changes it), as is the Hydra
        # config run_job keeps in the JobReturn: both are taken as they are, not copied again.
        cfg.paths.output_dir = HydraConfig.get().runtime.output_dir
        return _Pending(cfg)

    returns = {}
    for job in chunk:
        log.info("\t#%d : %s (group %d)", job.idx, " ".join(filter_overrides(job.overrides)), number)
        returns[job.idx] = _run(launcher, job, prepare)
        configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    # Hydra's on_job_end callbacks have seen these jobs already, when their folders were made.
    pending = {
        idx: ret
        for idx, ret in returns.items()
        if ret.status == JobStatus.COMPLETED and isinstance(ret.return_value, _Pending)
    }
    members = list(pending)
    values = train_group(
        [(idx, pending[idx].return_value.cfg, pending[idx].hydra_cfg) for idx in members], group=sorted(pending)
    )
    for idx, value in zip(members, values):
        returns[idx].return_value = value
    return returns
