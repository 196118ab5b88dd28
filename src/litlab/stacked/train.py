"""One stacked group from the jobs' configs to each job's return value (`launch.py` calls it)."""

import logging

from omegaconf import DictConfig, OmegaConf

from litlab.stacked.loop import StackedLoop, attach_optimizers, build, device_for
from litlab.stacked.member import Member
from litlab.stacked.phases import phase
from litlab.stacked.system import StackedSystem

log = logging.getLogger("litlab.stacked")


def train_group(jobs: list[tuple[int, DictConfig, DictConfig]], group: list[int]) -> list[float | None]:
    """Train the jobs (number, config, Hydra config) as one model; the value each job returns, in order."""
    members = [
        Member(
            job=idx,
            cfg=cfg,
            overrides=list(OmegaConf.to_container(hydra_cfg.hydra.overrides.task)),
            log_name=f"{hydra_cfg.hydra.job.name}.log",
        )
        for idx, cfg, hydra_cfg in jobs
    ]
    with phase("open", len(members)):
        for member in members:
            member.open(group)
            log.addHandler(member.log_file)  # the group's lines go into every member's train.log too
    try:
        return _train(members)
    finally:
        with phase("close", len(members)):
            for member in members:
                log.removeHandler(member.log_file)
                member.close()


def _train(members: list[Member]) -> list[float | None]:
    device = device_for(members[0].cfg.accelerator.get("accelerator", "auto"))
    with phase("build", len(members)):
        built, generators = build(members, device)
    values = {m.job: None for m in members}
    if not built:
        return list(values.values())
    try:
        stacked = StackedSystem([m.system for m in built], generators, built[0].datamodule.task)
        blocks = attach_optimizers(built, stacked)
        loop = StackedLoop(built, stacked, blocks, device)
        with phase("train", len(built)):
            loop.fit()
        with phase("test", len(built)):
            for member, value in zip(built, loop.test()):
                values[member.job] = value
    except Exception as error:  # a failure of the whole group: every member that was still going says so
        log.exception("stacked group failed: %s", error)
        for member in built:
            if member.status in ("running", "completed"):
                member.fail("failed", error=str(error))
    return list(values.values())
