"""One job of a stacked group: its config, its system, and the contents of what its run folder receives.

What a single run's Trainer and callbacks write, for one member: TensorBoard scalars (at the steps and
with the tags Lightning uses) and HParams, `checkpoints/` (the best by the monitored metric and
`last.ckpt`, as ordinary single-model Lightning checkpoints), `metrics.json`, `run.json`, `history.csv`
(its metrics per epoch, which the sweep report reads) and lines in `train.log`. The contents are made
here from the group's history and state on the host (history.py, snapshot.py); writer.py writes them.

A checkpoint is what the single run's would be at the same moment: the weights, the optimizer and
scheduler states, Lightning's loop progress (progress.py) and the ModelCheckpoint and Resumable callbacks'
states, so `python train.py resume=JOB_DIR` continues the member as a single run (Trainer.fit(ckpt_path=...)).
"""

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig

from litlab.record import optimized_value, summary_line, write_metrics
from litlab.stacked.optimizers import Block
from litlab.stacked.snapshot import HostState, Moment

LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # Hydra's job log format
CONSOLE = logging.getLogger("litlab.job")  # the parent of the members' own loggers: the console, no train.log


@dataclass
class Member:
    job: int  # the job's number in the sweep (its folder name)
    cfg: DictConfig  # the job's config, paths.output_dir resolved
    overrides: list[str]
    log_name: str = "train.log"  # Hydra's job log file: <hydra.job.name>.log
    system: L.LightningModule = None
    datamodule: L.LightningDataModule = None
    optimizer: torch.optim.Optimizer = None  # the optimizer that steps it: its block's (optimizers.py)
    block: Block | None = None  # it and the members stepped with it
    block_index: int = 0  # that block's position in the loop's list of blocks
    index: int = 0  # its index along the stack's member dimension
    generator: torch.Generator = None  # its dropout masks' random stream
    rng: dict | None = None  # Python's, NumPy's and torch's generator states after it was built (Resumable)
    config: dict | None = None  # its config resolved to a container: its system's hyperparameters
    after_data: dict | None = None  # the generator states its seed and data loading left behind
    weights: list = field(default_factory=list)  # its state_dict: (key, index of the stacked parameter, or a tensor)
    status: str = (
        "running"  # running, stopped (early: its test comes at the end), completed, diverged, failed, interrupted
    )
    stopped: tuple = ()  # stopped early: (epochs trained, steps, its metrics.json's `stopped_early`)
    loggers: list = field(default_factory=list)  # instantiated here; written to by the writer's processes only
    log: logging.Logger = None  # writes to the console and the member's train.log
    log_file: logging.Handler = None
    checkpoint: ModelCheckpoint | None = None
    initial_kth_value: torch.Tensor | None = None  # the callback's kth_value before any checkpoint
    save_last: bool = False
    best_path: str = ""  # its best checkpoint on disk (or sent to be written)
    best_epoch: int = -1  # the validation that checkpoint is of
    logged_upto: int = 0  # epochs whose metrics were sent to its loggers
    lr_names: list[str] = field(default_factory=list)  # LearningRateMonitor's name for each parameter group
    earlier: np.ndarray | None = None  # continued from a checkpoint: its history rows written before (resume.py)

    @property
    def output_dir(self) -> Path:
        return Path(self.cfg.paths.output_dir)

    # -- set-up ------------------------------------------------------------------------------------
    def open(self, group: list[int], provenance: dict | None = None) -> dict:
        """The member's log file, loggers and checkpoint settings; run.json saying it ran stacked.

        `provenance`: another member's run.json, whose versions and commit this one shares (asking git once
        per group, not per member). Its own run.json, which can serve as such."""
        from litlab.provenance import write_run_info

        self.log = logging.getLogger(f"litlab.job.{self.job}")
        self.log_file = logging.FileHandler(self.output_dir / self.log_name)
        self.log_file.setFormatter(logging.Formatter(LOG_FORMAT))
        self.log.addHandler(self.log_file)
        self.log.setLevel(logging.INFO)
        overrides = f"overrides: {' '.join(self.overrides)}"  # in train.log only, as a single run writes them
        self.log_file.handle(logging.makeLogRecord({"name": self.log.name, "levelname": "INFO", "msg": overrides}))
        self.loggers = [instantiate(self.cfg.logger)] if self.cfg.get("logger") else []
        callbacks = self.cfg.get("callbacks") or {}
        checkpoint = next((c for c in callbacks.values() if c and _is_checkpoint(c.get("_target_"))), None)
        if checkpoint is not None and self.cfg.trainer.get("enable_checkpointing") is not False:
            self.checkpoint = instantiate(checkpoint)
            self.initial_kth_value = self.checkpoint.kth_value
            self.save_last = bool(checkpoint.get("save_last"))
        path = self.output_dir / "run.json"
        if provenance is None or "resumed" in provenance or path.exists():
            info = json.loads(write_run_info(self.output_dir, self.overrides).read_text())
        else:
            info = {**provenance, "overrides": self.overrides}
        info["stacked"] = {"group": group, "members": len(group)}  # the jobs trained with this one, as one model
        path.write_text(json.dumps(info, indent=2) + "\n")
        return info

    def close(self) -> None:
        self.log.removeHandler(self.log_file)
        self.log_file.close()

    def name_learning_rates(self) -> None:
        """What Lightning's LearningRateMonitor logs: `lr-SGD`, or `lr-SGD/pg1`, `lr-SGD/pg2`, ... per group."""
        name = f"lr-{type(self.optimizer).__name__}"
        groups = len(self.optimizer.param_groups)
        self.lr_names = [name] if groups == 1 else [f"{name}/pg{i + 1}" for i in range(groups)]

    # -- checkpoints -------------------------------------------------------------------------------
    def checkpoint_name(self, metrics: dict, epoch: int, step: int) -> str:
        return self.checkpoint.format_checkpoint_name({**metrics, "epoch": epoch, "step": step})

    def checkpoint_contents(
        self,
        host: HostState,
        blocks: list[Block],
        moment: Moment,
        best_path: str,
        best_score: float | None,
        last_path: Path | None = None,
        early_stopping: dict | None = None,
    ) -> dict:
        """A single-model Lightning checkpoint of this member, as its single run would save it at `moment`.

        `host`: the stack (or the best copy of it) on the host; `best_path`, `best_score`: the best
        checkpoint at that moment; `last_path`: where it is written as last.ckpt at the end of training
        (ModelCheckpoint records that path); `early_stopping`: the EarlyStopping callback's state then, by
        its state key. Its `hyper_parameters` are added where it is written.
        """
        position, m = moment.position, self.index
        checkpoint = {
            "epoch": position.checkpoint_epoch,
            "global_step": position.step,
            "pytorch-lightning_version": L.__version__,
            "state_dict": {
                key: source if isinstance(source, torch.Tensor) else host.weights[source][m]
                for key, source in self.weights
            },
            "loops": position.loops(),
            "callbacks": {
                **(early_stopping or {}),
                **self._checkpoint_callback_state(best_path, best_score, last_path, position.moment),
            },
            "optimizer_states": [host.optimizer(blocks, self.block_index, m, moment)],
            "lr_schedulers": moment.schedulers,
            "hparams_name": "kwargs",
        }
        if self.rng is not None:  # Resumable's rng_states: the dropout masks continue from the member's stream
            torch_state = moment.generators.get(m)
            if torch_state is None:
                torch_state = self.generator.get_state() if self.generator.device.type == "cpu" else self.rng["torch"]
            checkpoint["rng_states"] = {**self.rng, "torch": torch_state}
        checkpoint["stacked"] = True  # written by hydra/launcher=stacked (run.json names the group)
        return checkpoint

    def _checkpoint_callback_state(
        self, best_path: str, best_score: float | None, last_path: Path | None, moment: str
    ) -> dict:
        """What the ModelCheckpoint callback of the single run saves: its best checkpoint, at that moment."""
        callback = self.checkpoint
        best = best_score is not None
        callback.best_model_path = best_path
        callback.best_model_score = torch.tensor(best_score) if best else None
        callback.current_score = callback.best_model_score  # it records the score of each checkpoint it keeps
        callback.best_k_models = {best_path: torch.tensor(best_score)} if best else {}
        callback.kth_best_model_path = best_path if best else ""
        callback.kth_value = torch.tensor(best_score) if best else self.initial_kth_value
        callback.last_model_path = str(last_path) if moment == "end" and last_path is not None else ""
        return {callback.state_key: callback.state_dict()}

    @property
    def last_path(self) -> Path:
        return Path(self.checkpoint.dirpath) / "last.ckpt"

    # -- at the end --------------------------------------------------------------------------------
    def result(self, metrics: dict, epochs: int, stopped: dict | None = None) -> tuple[dict, float | None]:
        """metrics.json of a completed member, and the value its job returns; `stopped`: its `stopped_early`."""
        self.status = "completed"
        record = {
            "status": "completed",
            "epochs": epochs,
            **(stopped or {}),
            "best_checkpoint": self.best_path,
            **dict(sorted(metrics.items())),
        }
        value = optimized_value(self.cfg, metrics)
        # train.log gets the line a multirun's job writes. On the console the members of a group end together,
        # in no set order, so the line names its job as Hydra names each job of a basic sweep ("#3 : ...").
        # It goes through a logger outside `litlab.stacked`, whose handlers are every member's train.log.
        line = summary_line(record)
        self.log_file.handle(logging.makeLogRecord({"name": self.log.name, "levelname": "INFO", "msg": line}))
        CONSOLE.info("#%d : %s", self.job, line)
        return record, (value if value is None or math.isfinite(value) else None)

    def fail(self, status: str, **record) -> None:
        self.status = status
        write_metrics(self.cfg, {"status": status, **record})


def _is_checkpoint(target: str | None) -> bool:
    """ModelCheckpoint or a subclass of it (the default config's IntervalCheckpoint)."""
    from hydra.utils import get_class

    return bool(target) and issubclass(get_class(target), ModelCheckpoint)
