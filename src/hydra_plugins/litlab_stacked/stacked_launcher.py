"""`hydra/launcher=stacked`: the jobs of a multirun that differ only in stackable keys train as one model.

Hydra finds launchers in the `hydra_plugins` namespace package and imports every module in it at start-up,
so this file stays light: the work (grouping, the stacked network, the training loop) is in `litlab.stacked`,
imported when a multirun launches. See docs/sweeps.md, "Stacked sweeps".
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf


@dataclass
class StackedLauncherConf(SlurmQueueConf):
    """The keys of hydra/launcher=slurm (hydra-submitit-launcher's), for hydra.launcher.cluster=slurm, and these."""

    _target_: str = "hydra_plugins.litlab_stacked.stacked_launcher.StackedLauncher"
    # The most jobs trained as one model; a larger group is split. auto: as many as the device's free memory holds
    # (litlab/stacked/group_size.py).
    max_members: Any = "auto"
    # With hydra.sweep.dir=<a sweep that stopped>: its finished jobs are kept, the interrupted ones continue.
    resume: bool = False
    # Local processes training groups at once (submitit's local executor): each one GPU, or its share of the cores.
    workers: int = 1
    # null: groups train on this machine; slurm: each group is one Slurm job; local: the same path on this machine.
    cluster: str | None = None
    # As in conf/hydra/launcher/slurm.yaml; a group is one process (tasks_per_node and nodes stay 1).
    cpus_per_task: int | None = 4
    mem_gb: int | None = 16
    array_parallelism: int = 16
    max_num_timeout: int = 3  # requeues of a group that reached its time limit (a preempted one always is)


ConfigStore.instance().store(group="hydra/launcher", name="stacked", node=StackedLauncherConf, provider="litlab")


class StackedLauncher(Launcher):
    def __init__(
        self, max_members: int | str = "auto", resume: bool = False, workers: int = 1, cluster=None, **queue: Any
    ) -> None:
        self.max_members = max_members
        self.resume = resume
        self.workers, self.cluster = workers, cluster
        self.queue = queue  # the submitit keys, as hydra/launcher=slurm takes them
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def check(self) -> None:
        """A bad max_members, workers or cluster stops the sweep before any job runs, in one line."""
        from litlab.stacked.group_size import parse
        from litlab.stacked.submit import check

        parse(self.max_members)
        check(self)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        import gc

        from litlab.stacked.compose_once import ReusingConfigLoader

        gc.freeze()  # what is loaded by now lives as long as the process: the collector need not scan it again
        # The sweeper shares this context: the configs it composes to check a batch are kept for launch().
        if not isinstance(hydra_context.config_loader, ReusingConfigLoader):
            hydra_context.config_loader = ReusingConfigLoader(hydra_context.config_loader)
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from litlab.startup import collector_paused

        with collector_paused():  # torch, Lightning and what training a group imports
            from litlab.stacked.launch import launch
            from litlab.stacked.train import train_group  # noqa: F401

        return launch(self, job_overrides, initial_job_idx)
