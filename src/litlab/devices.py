"""Where a run executes: the Trainer built for its devices, and the rules for several processes.

- `instantiate_trainer` turns a device the machine lacks into one line naming the key, instead of a traceback.
- `refuse_script_relaunch_in_sweep`: Lightning's `ddp` starts ranks > 0 by running `python train.py ...`
  again with the original command line. Inside a Hydra multirun that command line is the whole sweep,
  so every job would rerun the sweep. `ddp_spawn` starts its processes with torch.multiprocessing and
  is the one to use in sweeps; on Slurm (or torchrun) the processes come from outside and `ddp` is right.
- `DDPSpawnStrategy`: Lightning's `ddp_spawn`, which also tells the main process how many epochs ran.
- `keep_log_file_on_rank_zero`: one `train.log` per run, written by rank 0.
"""

import difflib
import inspect
import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.accelerators import CUDAAccelerator
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher
from omegaconf import DictConfig

from litlab.errors import LitlabError


def instantiate_trainer(cfg: DictConfig, **kwargs: Any) -> L.Trainer:
    """`lightning.Trainer(**cfg.trainer, **cfg.accelerator, **kwargs)`, or a LitlabError saying what to change."""
    _check_gpus(cfg.accelerator)
    try:
        trainer = instantiate(cfg.trainer, **cfg.accelerator, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        if not isinstance(cause, ValueError):  # MisconfigurationException is a ValueError too
            raise
        raise LitlabError(
            f"lightning.Trainer refused the settings: {cause} "
            f"({_settings(cfg)}, trainer.precision={cfg.trainer.precision})"
        ) from None
    check_bfloat16(isinstance(trainer.accelerator, CUDAAccelerator), cfg.trainer.precision)
    refuse_script_relaunch_in_sweep(trainer, cfg)
    return trainer


def check_bfloat16(cuda: bool, precision) -> None:
    """A bf16 precision on a CUDA GPU without bfloat16 stops in one line (autocast would not take it)."""
    if cuda and "bf16" in str(precision) and not torch.cuda.is_bf16_supported():
        raise LitlabError(
            f"trainer.precision={precision}: {torch.cuda.get_device_name()} has no bfloat16; "
            "use trainer.precision=16-mixed"
        )


def check_trainer_arguments(trainer: DictConfig) -> None:
    """A key under `trainer` that `lightning.Trainer` does not take (`+trainer.max_epoch=2`) stops in one line."""
    allowed = [name for name in inspect.signature(L.Trainer).parameters if name != "self"]
    for key in trainer:
        if key != "_target_" and key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean trainer.{close[0]}?" if close else ""
            raise LitlabError(f"trainer.{key} is not an argument of lightning.Trainer{hint}")


def refuse_script_relaunch_in_sweep(trainer: L.Trainer, cfg: DictConfig) -> None:
    relaunches_script = (
        isinstance(trainer.strategy.launcher, _SubprocessScriptLauncher)
        and trainer.num_devices > 1
        and not trainer.strategy.cluster_environment.creates_processes_externally
    )
    if relaunches_script and HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        raise LitlabError(
            f"{_settings(cfg)} cannot run inside a multirun (-m): Lightning starts ranks > 0 by rerunning "
            "`python train.py` with the same command line, which would rerun the whole sweep. In sweeps on one "
            f"machine use accelerator=ddp_spawn accelerator.devices={trainer.num_devices}; on a cluster "
            "hydra/launcher=slurm, where Slurm starts one process per device"
        )


def _check_gpus(accelerator: DictConfig) -> None:
    if accelerator.get("accelerator") not in ("gpu", "cuda") or not isinstance(accelerator.get("devices"), int):
        return
    found = torch.cuda.device_count()  # none at all is refused earlier, by litlab.config.checks
    if 0 < found < accelerator.devices:
        raise LitlabError(
            f"accelerator.devices={accelerator.devices} CUDA GPUs wanted, but this machine has {found}; "
            f"use accelerator.devices={found} or fewer"
        )


def _settings(cfg: DictConfig) -> str:
    """`accelerator=ddp (auto, 2 devices, strategy ddp)`: the option as typed and what it set."""
    acc = cfg.accelerator
    choice = HydraConfig.get().runtime.choices.get("accelerator") if HydraConfig.initialized() else None
    strategy = acc.strategy if isinstance(acc.get("strategy"), str) else acc.strategy.get("_target_")
    return f"accelerator={choice} ({acc.accelerator}, {acc.devices} devices, strategy {strategy})"


class _SpawnLauncher(_MultiProcessingLauncher):
    """Lightning's launcher for `ddp_spawn`; also sends the epoch count back to the main process.

    The main process gets back the weights, the best checkpoint path and the metrics, but not the
    loop progress, so `trainer.current_epoch` would read 0 there after a spawned fit.
    """

    def get_extra_results(self, trainer: L.Trainer) -> dict[str, Any]:
        return {**super().get_extra_results(trainer), "epoch_progress": trainer.fit_loop.epoch_progress.state_dict()}

    def update_main_process_results(self, trainer: L.Trainer, extra: dict[str, Any]) -> None:
        super().update_main_process_results(trainer, extra)
        trainer.fit_loop.epoch_progress.load_state_dict(extra["epoch_progress"])


class DDPSpawnStrategy(DDPStrategy):
    """`strategy=ddp_spawn`: one process per device, started by torch.multiprocessing, safe inside sweeps."""

    def __init__(self, **kwargs: Any):
        super().__init__(start_method="spawn", **kwargs)

    def _configure_launcher(self) -> None:
        self._launcher = _SpawnLauncher(self, start_method="spawn")


def keep_log_file_on_rank_zero() -> None:
    """In processes of rank > 0, stop writing the run's log file (their messages still reach the terminal)."""
    if rank_zero_only.rank == 0:
        return
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, logging.FileHandler)]:
        root.removeHandler(handler)
        handler.close()
        path = Path(handler.baseFilename)
        # Lightning's `ddp` restarts train.py for rank N with hydra.job.name=train_ddp_process_N: Hydra has
        # just created that empty file for this process alone. (On Slurm every rank shares train.log: kept.)
        if path.stem.startswith("train_ddp_process_") and path.exists() and path.stat().st_size == 0:
            path.unlink()
