"""What `hydra/launcher=stacked` does with a sweep's jobs: group them, run each group as one model.

1. Every job's config is derived from its shape's composition (compose_once.py: Hydra composes each set of
   config-group choices once), or taken as the sweeper's batch check derived it.
2. Jobs that cannot stack (grouping.unstackable), and groups of one, run one after another through
   Hydra's `run_job` with the task function: exactly the basic launcher's run.
3. Each group's job folders are made in one pass (job_folders.py): `.hydra/` as `run_job` writes it. A job
   whose config is refused (litlab.config.checks) runs right there through `run_job` and the task function,
   and fails alone as it would. Where `run_job` must act per job (job_folders.bulk_allowed), each job of the
   group passes through `run_job` with a task that checks its config and keeps it.
4. The group's remaining members are built, trained and tested together (train.py); each job's return
   value is then filled in, in the order the sweeper gave the jobs.

With `hydra.launcher.resume=true` and the `hydra.sweep.dir` of a sweep that stopped, a job whose folder has a
finished metrics.json is kept as it is (its value read back), and jobs that stopped midway continue from their
`checkpoints/last.ckpt`: those that stack and stopped at the same step as a group again (resume.py), any other
as a single run (`resume=` its folder); the others run as above.

With `hydra.launcher.workers=N` or `hydra.launcher.cluster=local|slurm` the groups train in processes of
their own, through submitit (submit.py); the folders are made here first.

The launcher logs how long each phase took (phases.py): scripts/bench_stacked.py reads these lines.
"""

import gc
import logging
from dataclasses import dataclass
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from omegaconf import DictConfig, open_dict, read_write

from litlab.stacked.compose_once import JobConfig, full_config
from litlab.stacked.group_size import group_size
from litlab.stacked.group_size import parse as parse_max_members
from litlab.stacked.grouping import group_key, split, stackable_key, unstackable
from litlab.stacked.phases import Clock, phase, report

log = logging.getLogger("litlab.stacked")


@dataclass
class Job:
    idx: int
    overrides: list[str]
    config: JobConfig

    @property
    def cfg(self) -> DictConfig:
        """The config the task receives (a fully composed job's includes the Hydra node)."""
        return self.config.task if self.config.derived else self.config.full


class _Pending:
    """The return value of a job whose training happens later, with its group: the job's config."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg


def launch(launcher, job_overrides, initial_job_idx: int) -> list[JobReturn]:
    launcher.check()  # a bad value stops the sweep before any job runs
    setup_globals()
    config = launcher.config
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    loader = launcher.hydra_context.config_loader
    # The sweeper's batch check derived most configs already, on the loader's clock.
    with phase("compose", len(job_overrides), clock=loader.clock):
        jobs = [
            Job(initial_job_idx + offset, list(overrides), loader.take(config, list(overrides)))
            for offset, overrides in enumerate(job_overrides)
        ]
    report("compositions", loader.compositions)  # Hydra's, within the compose phase
    loader.clock, loader.compositions = Clock(), Clock()  # the next batch (Optuna's) counts its own
    derived = sum(job.config.derived for job in jobs)
    log.info(
        "%d job configs: %d derived from %d composition(s), %d composed in full",
        len(jobs),
        derived,
        len({id(job.config.shape) for job in jobs if job.config.derived}),
        len(jobs) - derived,
    )

    with phase("import"):  # torch and Lightning, which grouping and training use
        import litlab.stacked.train  # noqa: F401
    gc.freeze()  # what is loaded by now lives as long as the process: the collector need not scan it again

    returns: dict[int, JobReturn] = {}
    alone, resumed = [], {}
    if launcher.resume:
        with phase("resume", len(jobs)):
            returns, resumed = _resume(launcher, jobs)
        log.info(
            "Resuming the sweep: %d jobs finished before, %d continue from their last.ckpt", len(returns), len(resumed)
        )

    with phase("group", len(jobs)):
        groups, seen = {}, {}
        for job in jobs:
            if job.idx in returns:
                continue
            reason, key = _classify(job, seen)
            if job.idx in resumed and (reason or resumed[job.idx] is None):
                alone.append((job, "resumed from its checkpoints/last.ckpt"))
            elif reason:
                alone.append((job, reason))
            else:  # jobs continuing from their last.ckpt stack with those stopped at the same step
                groups.setdefault((key, resumed.get(job.idx)), []).append(job)
        chunks = []
        for (_, place), members in groups.items():
            if len(members) == 1:
                why = "resumed from its checkpoints/last.ckpt" if place else "nothing to stack it with"
                alone.append((members[0], why))
            else:
                chunks += [(chunk, place is not None) for chunk in split(members, _group_size(launcher, members))]
    log.info(
        "Launching %d jobs: %d stacked in %d group(s), %d alone",
        len(jobs),
        sum(len(chunk) for chunk, _ in chunks),
        len(chunks),
        len(alone),
    )
    for number, (chunk, resume) in enumerate(chunks, 1):
        continued = " (continued from their last.ckpt)" if resume else ""
        members = ", ".join(f"#{j.idx}" for j in chunk)
        log.info("\tgroup %d (%d members): jobs %s%s", number, len(chunk), members, continued)

    for job, reason in sorted(alone, key=lambda pair: pair[0].idx):
        log.info("\t#%d : %s (alone: %s)", job.idx, " ".join(filter_overrides(job.overrides)), reason)
        returns[job.idx] = _run(launcher, job, launcher.task_function, resume=job.idx in resumed)
        configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    returns.update(_run_groups(launcher, chunks))
    return [returns[job.idx] for job in jobs]


def _group_size(launcher, members: list[Job]) -> int:
    from litlab.stacked.loop import fabric_for

    cfg = members[0].cfg
    size = group_size(launcher.max_members, cfg, fabric_for(cfg, precision=False).device, len(members))
    if parse_max_members(launcher.max_members) is None and launcher.cluster is None and launcher.workers > 1:
        size = min(size, -(-len(members) // launcher.workers))  # at least a group per worker
    return size


def _classify(job: Job, seen: dict) -> tuple[str | None, str | None]:
    """Why the job runs alone (None: it stacks), and its group's key.

    Both read only the keys that are not stackable (grouping.py): jobs of one shape whose value overrides
    on such keys are equal get the same answer, worked out once.
    """
    memo = None
    if job.config.derived:
        values = [(o.key_or_group, repr(o.value())) for o in job.config.values if not stackable_key(o.key_or_group)]
        memo = (id(job.config.shape), tuple(values))
        if memo in seen:
            return seen[memo]
    try:
        reason = unstackable(job.cfg)
    except Exception as error:  # a config the checks will refuse: the job runs (and fails) alone
        reason = f"its config ({error})"
    answer = (reason, None if reason else group_key(job.cfg))
    if memo is not None:
        seen[memo] = answer
    return answer


def _resume(launcher, jobs: list[Job]) -> tuple[dict[int, JobReturn], dict[int, tuple | None]]:
    """The returns of the jobs that finished before the sweep stopped, and the jobs that stopped midway, with
    where their last.ckpt stands (resume.position; None: it continues as a single run)."""
    from litlab.stacked.job_folders import finished, interrupted, job_folder, kept
    from litlab.stacked.resume import position

    returns, resumed = {}, {}
    for job in jobs:
        folder = job_folder(launcher.config, job.config, job.idx)
        metrics = finished(folder)
        if metrics is not None:
            log.info("\t#%d : %s (finished before: %s)", job.idx, " ".join(filter_overrides(job.overrides)), folder)
            returns[job.idx] = kept(job.config, metrics, folder)
        elif interrupted(folder):
            resumed[job.idx] = position(folder)
    return returns, resumed


def _run(launcher, job: Job, task, resume: bool = False) -> JobReturn:
    config = full_config(job.config, job.idx)
    if resume:  # a single run continuing the job's folder from its last.ckpt (`python train.py resume=FOLDER`)
        from litlab.stacked.job_folders import job_folder

        config.resume = str(job_folder(launcher.config, job.config, job.idx))
    return run_job(
        hydra_context=launcher.hydra_context,
        task_function=task,
        config=config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


def _run_groups(launcher, chunks: list[tuple[list[Job], bool]]) -> dict[int, JobReturn]:
    """Each group's folders made, then the group trained: here one after another, or through submitit
    (every group's folders first, then the groups at once)."""
    from litlab.stacked.submit import Group, elsewhere, submit
    from litlab.stacked.train import train_group

    config = launcher.config
    returns, prepared = {}, []
    for number, (chunk, resume) in enumerate(chunks, 1):
        group_returns, started = _prepare_group(launcher, chunk, number)
        configure_log(config.hydra.hydra_logging, config.hydra.verbose)
        # The jobs whose folders are ready and whose config passed the checks: the group's members.
        pending = {
            idx: ret
            for idx, ret in group_returns.items()
            if ret.status == JobStatus.COMPLETED and isinstance(ret.return_value, _Pending)
        }
        members = [(idx, ret.return_value.cfg, ret.hydra_cfg) for idx, ret in pending.items()]
        group = Group(number, members, resume)
        if elsewhere(launcher):
            prepared.append((group, group_returns, started))
            continue
        _fill(group, train_group(members, group=sorted(pending), resume=resume), group_returns)
        _job_end(launcher, started, group_returns)
        configure_log(config.hydra.hydra_logging, config.hydra.verbose)
        returns.update(group_returns)
    if prepared:
        by_number = {group.number: (group_returns, started) for group, group_returns, started in prepared}
        for share, job in submit(launcher, [group for group, _, _ in prepared]):
            try:
                results = job.result()
            except Exception as error:  # the job's process failed: its members fail, the others go on
                log.error("submitit job %s failed: %s", job.job_id, error)
                results = [error] * len(share)
            for group, values in zip(share, results):
                group_returns, started = by_number[group.number]
                _fill(group, values, group_returns)
                _job_end(launcher, started, group_returns)
                returns.update(group_returns)
    return returns


def _fill(group, values, returns: dict[int, JobReturn]) -> None:
    """The members' return values (or the error that ended their group's process) into their JobReturns."""
    for position, (idx, _, _) in enumerate(group.jobs):
        if isinstance(values, Exception):
            returns[idx].status, returns[idx].return_value = JobStatus.FAILED, values
        else:
            returns[idx].return_value = values[position]


def _prepare_group(launcher, chunk: list[Job], number: int) -> tuple[dict[int, JobReturn], dict[int, DictConfig]]:
    """The group's job folders; each job's return so far, and the configs of the jobs Hydra callbacks saw start."""
    from litlab.stacked.job_folders import bulk_allowed

    logging.getLogger("lightning").handlers.clear()  # as litlab.run.main does
    for job in chunk:
        log.info("\t#%d : %s (group %d)", job.idx, " ".join(filter_overrides(job.overrides)), number)
    with phase("folders", len(chunk)):
        reason = bulk_allowed(launcher.config, [job.config for job in chunk])
        if reason:
            log.info("\tgroup %d: job folders made one by one by Hydra's run_job (%s)", number, reason)
            returns, started = {job.idx: _prepare_with_run_job(launcher, job) for job in chunk}, {}
        else:
            returns, started = _make_folders(launcher, chunk)
    # Hydra's on_job_end callbacks have seen the jobs prepared by run_job already, when their folders were made;
    # those of the folders made in one pass (`started`) see them once the group has trained.
    return returns, started


def _job_end(launcher, configs: dict[int, DictConfig], returns: dict[int, JobReturn]) -> None:
    """Hydra's `on_job_end` callbacks for each job whose folder was made in one pass, as run_job calls them."""
    if not configs:
        return
    before = HydraConfig.instance().cfg
    try:
        for idx, config in configs.items():
            HydraConfig.instance().set_config(config)
            launcher.hydra_context.callbacks.on_job_end(config=config, job_return=returns[idx])
    finally:
        HydraConfig.instance().cfg = before


def _make_folders(launcher, chunk: list[Job]) -> tuple[dict[int, JobReturn], dict[int, DictConfig]]:
    """The group's folders in one pass; a job whose config is refused, or whose folder this pass cannot name,
    goes through run_job. Also the whole config of each job that Hydra callbacks saw start."""
    from litlab.config.checks import check_run
    from litlab.stacked.job_folders import job_callbacks, make_folder, sweep_dir

    returns, configs = {}, {}
    callbacks = job_callbacks(launcher.config)
    sweep = sweep_dir(launcher.config, chunk[0].config)
    for job in chunk:
        try:
            check_run(job.cfg)
        except Exception:  # runs through the task function, which says what is wrong, and fails alone
            returns[job.idx] = _run(launcher, job, launcher.task_function)
            continue
        try:
            ret = make_folder(job.config, job.idx, sweep)
        except Exception as error:
            log.info("\t#%d: its folder made by Hydra's run_job (%s)", job.idx, error)
            returns[job.idx] = _prepare_with_run_job(launcher, job)
            continue
        ret.return_value = _Pending(ret.cfg)
        returns[job.idx] = ret
        if callbacks:
            configs[job.idx] = _job_start(launcher, job, ret)
    return returns, configs


def _job_start(launcher, job: Job, ret: JobReturn) -> DictConfig:
    """Hydra's `on_job_start` callbacks for a job whose folder was made in one pass, with its whole config."""
    config = full_config(job.config, job.idx)
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.runtime.output_dir = ret.hydra_cfg.hydra.runtime.output_dir
    before = HydraConfig.instance().cfg
    try:
        HydraConfig.instance().set_config(config)
        launcher.hydra_context.callbacks.on_job_start(config=config, task_function=launcher.task_function)
    finally:
        HydraConfig.instance().cfg = before
    return config


def _prepare_with_run_job(launcher, job: Job) -> JobReturn:
    """The job through run_job, with a task that checks its config and keeps it for the group."""

    def prepare(cfg: DictConfig):
        from litlab.config.checks import check_run

        try:
            check_run(cfg)
        except Exception:
            return launcher.task_function(cfg)
        # `cfg` is the job's own copy (run_job made it for this task; nothing else changes it), as is the Hydra
        # config run_job keeps in the JobReturn: both are taken as they are, not copied again.
        cfg.paths.output_dir = HydraConfig.get().runtime.output_dir
        return _Pending(cfg)

    ret = _run(launcher, job, prepare)
    configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    return ret
