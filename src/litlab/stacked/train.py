"""One stacked group from the jobs' configs to each job's return value (`launch.py` calls it)."""

import logging

from omegaconf import DictConfig, OmegaConf

from litlab import baseline
from litlab.errors import LitlabError
from litlab.stacked.loop import StackedLoop, attach_optimizers, build, fabric_for, load
from litlab.stacked.member import Member
from litlab.stacked.phases import ChildClock, phase
from litlab.stacked.resume import restore
from litlab.stacked.system import StackedSystem
from litlab.stacked.writer import Writer

log = logging.getLogger("litlab.stacked")


def train_group(
    jobs: list[tuple[int, DictConfig, DictConfig]], group: list[int], resume: bool = False
) -> list[float | None]:
    """Train the jobs (number, config, Hydra config) as one model; the value each job returns, in order.

    `resume`: every job continues from its folder's checkpoints/last.ckpt (resume.py)."""
    members = [
        Member(
            job=idx,
            cfg=cfg,
            overrides=list(OmegaConf.to_container(hydra_cfg.hydra.overrides.task)),
            log_name=f"{hydra_cfg.hydra.job.name}.log",
        )
        for idx, cfg, hydra_cfg in jobs
    ]
    provenance = None
    with phase("open", len(members)):
        for member in members:
            provenance = member.open(group, provenance)
            log.addHandler(member.log_file)  # the group's lines go into every member's train.log too
    try:
        return _train(members, resume)
    finally:
        with phase("close", len(members)):
            for member in members:
                log.removeHandler(member.log_file)
                member.close()


def _stepping(cfg) -> str:
    """What decides how a member's optimizer steps (optimizers.py forms blocks of equal neighbours)."""
    return OmegaConf.to_yaml(OmegaConf.masked_copy(cfg, ["optimizer", "scheduler", "regularization"]), resolve=True)


def _train(members: list[Member], resume: bool = False) -> list[float | None]:
    try:
        fabric = fabric_for(members[0].cfg)  # the members share every key Fabric reads (grouping.py)
    except LitlabError as error:  # the device lacks the precision: every job fails, as its single run would
        log.error("%s", error)
        for member in members:
            member.fail("failed", error=str(error))
        return [None] * len(members)
    fabric.launch()
    values = {m.job: None for m in members}
    writer = baselines = None
    try:
        with phase("build", len(members)):
            loaded = load(members)
            # The linear baselines of the members' splits are fitted in a forked process while the group
            # builds and trains (test uses them).
            baselines = baseline.Ahead([m.datamodule for m in loaded])
            built, generators = build(loaded, fabric)
        if not built:
            return list(values.values())
        # Members that step alike side by side in the stack: they form one block (one optimizer step) each.
        order = sorted(range(len(built)), key=lambda i: _stepping(built[i].cfg))
        built, generators = [built[i] for i in order], [generators[i] for i in order]
        stacked = StackedSystem([m.system for m in built], generators, built[0].datamodule.task)
        blocks = attach_optimizers(built, stacked)
        loop = StackedLoop(built, stacked, blocks, fabric)
        if resume:
            with phase("restore", len(built)):
                restore(loop)
        # Forked once the members are built: the writer's processes hold them as they are now.
        loop.writer = writer = Writer(built)
        loop.baselines = baselines
        with phase("train", len(built)):
            loop.fit()
        with phase("test", len(built)):
            for member, value in zip(built, loop.test()):
                values[member.job] = value
    except Exception as error:  # a failure of the whole group: every member that was still going says so
        log.exception("stacked group failed: %s", error)
        for member in members:
            if member.status in ("running", "completed"):
                member.fail("failed", error=str(error))
    finally:
        if baselines is not None:  # not collected: the group failed or stopped before its test
            baselines.close()
        if writer is not None:  # also on Ctrl-C and SIGTERM: every file sent is written before the exit
            with phase("write", len(members), clock=ChildClock()):  # the wait, and the writers' CPU time
                writer.close()
    return list(values.values())
