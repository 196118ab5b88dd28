"""One job of a stacked group: its config, its system, and everything its run folder receives.

What a single run's Trainer and callbacks write, written here for one member: TensorBoard scalars (at the
steps Lightning uses) and HParams, `checkpoints/` (the best by the monitored metric and `last.ckpt`, as
ordinary single-model Lightning checkpoints), `metrics.json`, `run.json` and lines in `train.log`.

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
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig

from litlab import baseline
from litlab.checkpoints import AtomicCheckpointIO
from litlab.record import log_hparams, number, print_summary, write_metrics
from litlab.stacked.optimizers import Block
from litlab.stacked.progress import Position
from litlab.stacked.snapshot import Held, Snapshot

LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # Hydra's job log format


@dataclass
class Member:
    job: int  # the job's number in the sweep (its folder name)
    cfg: DictConfig  # the job's config, paths.output_dir resolved
    overrides: list[str]
    log_name: str = "train.log"  # Hydra's job log file: <hydra.job.name>.log
    system: L.LightningModule = None
    datamodule: L.LightningDataModule = None
    optimizer: torch.optim.Optimizer = None  # the optimizer that steps it: its block's (optimizers.py)
    scheduler: object = None  # an epoch-interval scheduler, or None
    block: Block | None = None  # it and the members stepped with it
    index: int = 0  # its index along the stack's member dimension
    generator: torch.Generator = None  # its dropout masks' random stream
    rng: dict | None = None  # Python's, NumPy's and torch's generator states after it was built (Resumable)
    weights: list = field(default_factory=list)  # its state_dict: (key, index of the stacked parameter, or a tensor)
    status: str = "running"  # running, completed, diverged, failed, interrupted
    metrics: dict = field(default_factory=dict)  # the last value of every logged metric
    best_path: str = ""
    best_score: float | None = None
    best_state: Held | None = None  # the checkpoints, in memory until the member stops (save_checkpoints)
    last_state: Held | None = None
    loggers: list = field(default_factory=list)
    log: logging.Logger = None  # writes to the console and the member's train.log
    log_file: logging.Handler = None
    checkpoint: ModelCheckpoint | None = None
    initial_kth_value: torch.Tensor | None = None  # the callback's kth_value before any checkpoint
    save_last: bool = False

    @property
    def output_dir(self) -> Path:
        return Path(self.cfg.paths.output_dir)

    # -- set-up ------------------------------------------------------------------------------------
    def open(self, group: list[int]) -> None:
        """The member's log file, loggers and checkpoint settings; run.json saying it ran stacked."""
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
        path = write_run_info(self.output_dir, self.overrides)
        info = json.loads(path.read_text())
        info["stacked"] = {"group": group, "members": len(group)}  # the jobs trained with this one, as one model
        path.write_text(json.dumps(info, indent=2) + "\n")

    def close(self) -> None:
        for logger in self.loggers:
            logger.finalize("success" if self.status == "completed" else self.status)
        self.log.removeHandler(self.log_file)
        self.log_file.close()

    # -- during training ---------------------------------------------------------------------------
    def log_metrics(self, values: dict, step: int, epoch: int | None = None) -> None:
        """Record `values` as the member's latest metrics and write them to its loggers at `step`."""
        values = {k: number(v) for k, v in values.items()}
        self.metrics.update(values)
        if epoch is not None:  # Lightning logs the epoch beside each metric (the sweep report reads it)
            values = {**values, "epoch": epoch}
        for logger in self.loggers:
            logger.log_metrics(values, step)

    def lr_metrics(self) -> dict:
        """What Lightning's LearningRateMonitor logs: `lr-SGD`, or `lr-SGD/pg1`, `lr-SGD/pg2`, ... per group."""
        name = f"lr-{type(self.optimizer).__name__}"
        groups = self.optimizer.param_groups
        if len(groups) == 1:
            return {name: torch.tensor(groups[0]["lr"], dtype=torch.float32)}
        return {f"{name}/pg{i + 1}": torch.tensor(g["lr"], dtype=torch.float32) for i, g in enumerate(groups)}

    def hold(self, position: Position, snapshot: Snapshot) -> Held:
        """This member's checkpoint at `position`, `snapshot` being the stack's copy of that moment."""
        rng = None
        if self.rng is not None:  # Resumable's rng_states: the dropout masks continue from the member's stream
            rng = {
                **self.rng,
                "torch": self.generator.get_state() if self.generator.device.type == "cpu" else self.rng["torch"],
            }
        return Held(position, snapshot, self, rng, self.best_path, self.best_score)

    def save_checkpoints(self, position: Position, snapshot: Snapshot) -> None:
        """After a validation: the best checkpoint by the monitored metric (one kept), and last.ckpt.

        Kept in memory and written when the member stops (completed, diverged, interrupted): a single run
        writes them every `write_interval` seconds, and for N small members the writes cost more than the
        training. A process killed outright (SIGKILL) therefore leaves no checkpoints behind.
        """
        if self.checkpoint is None:
            return
        monitor = self.checkpoint.monitor
        score = self.metrics.get(monitor) if monitor else None
        improved = monitor is None or (score is not None and (self.best_score is None or self._better(score)))
        if not improved and self.best_state is not None:
            self.best_state.materialize(self)  # its snapshot is not kept for it: only the newest is
        if not improved and not self.save_last:
            return
        if improved:
            self.best_path = self.checkpoint.format_checkpoint_name(
                {**self.metrics, "epoch": position.epoch, "step": position.step}
            )
            self.best_score = score
        held = self.hold(position, snapshot)
        if improved:
            self.best_state = held
        if self.save_last:
            self.last_state = held

    def _better(self, score: float) -> bool:
        if math.isnan(score):
            return False
        return score < self.best_score if self.checkpoint.mode == "min" else score > self.best_score

    def write_checkpoints(self, now: tuple[Position, Snapshot] | None = None) -> Path | None:
        """Write the best checkpoint and last.ckpt; `now`: last.ckpt holds this moment's state instead."""
        if self.checkpoint is None:
            return None
        if now is not None:
            self.last_state = self.hold(*now)
        if self.best_state is not None:
            AtomicCheckpointIO().save_checkpoint(self._checkpoint(self.best_state), self.best_path)
        last = Path(self.checkpoint.dirpath) / "last.ckpt"
        if self.last_state is not None and (self.save_last or now is not None):
            AtomicCheckpointIO().save_checkpoint(self._checkpoint(self.last_state, last), last)
            return last
        return None

    def _checkpoint(self, held: Held, path: Path | None = None) -> dict:
        """A single-model Lightning checkpoint of this member, as its single run would save it at that moment.

        `path`: where it is written as last.ckpt at the end of training (ModelCheckpoint records that path).
        """
        position = held.materialize(self).position
        checkpoint = {
            "epoch": position.checkpoint_epoch,
            "global_step": position.step,
            "pytorch-lightning_version": L.__version__,
            "state_dict": dict(held.weights),
            "loops": position.loops(),
            "callbacks": self._checkpoint_callback_state(held, path),
            "optimizer_states": [held.optimizer],
            "lr_schedulers": held.schedulers,
            "hparams_name": "kwargs",
            "hyper_parameters": dict(self.system.hparams),
        }
        if held.rng is not None:
            checkpoint["rng_states"] = held.rng
        checkpoint["stacked"] = True  # written by hydra/launcher=stacked (run.json names the group)
        return checkpoint

    def _checkpoint_callback_state(self, held: Held, path: Path | None) -> dict:
        """What the ModelCheckpoint callback of the single run saves: its best checkpoint, at that moment."""
        callback = self.checkpoint
        best = held.best_score is not None
        callback.best_model_path = held.best_path
        callback.best_model_score = torch.tensor(held.best_score) if best else None
        callback.current_score = callback.best_model_score  # it records the score of each checkpoint it keeps
        callback.best_k_models = {held.best_path: torch.tensor(held.best_score)} if best else {}
        callback.kth_best_model_path = held.best_path if best else ""
        callback.kth_value = torch.tensor(held.best_score) if best else self.initial_kth_value
        callback.last_model_path = str(path) if held.position.moment == "end" and path is not None else ""
        return {callback.state_key: callback.state_dict()}

    # -- at the end --------------------------------------------------------------------------------
    def finish(self, test: dict, step: int, epochs: int) -> float | None:
        """metrics.json, HParams and the summary of a completed member; the value its job returns."""
        self.status = "completed"
        self.write_checkpoints()
        self.log_metrics(test, step, epoch=epochs)
        # The baseline is fitted once for the members that share a data module (litlab/baseline.py).
        metrics = dict(sorted({**self.metrics, **baseline.scores(self.datamodule, self.system)}.items()))
        record = {"status": "completed", "epochs": epochs, "best_checkpoint": self.best_path, **metrics}
        write_metrics(self.cfg, record)
        log_hparams(self.loggers, self.cfg, metrics)
        print_summary(self.cfg, record, console_log=self.log, brief=True)  # the line a multirun's job prints
        value = metrics.get(self.cfg.optimized_metric) if self.cfg.get("optimized_metric") else None
        return value if value is None or math.isfinite(value) else None

    def fail(self, status: str, **record) -> None:
        self.status = status
        write_metrics(self.cfg, {"status": status, **record})


def _is_checkpoint(target: str | None) -> bool:
    """ModelCheckpoint or a subclass of it (the default config's IntervalCheckpoint)."""
    from hydra.utils import get_class

    return bool(target) and issubclass(get_class(target), ModelCheckpoint)
