"""The best and the last checkpoint, written every `write_interval` seconds instead of after every epoch.

Lightning's `ModelCheckpoint` writes `last.ckpt` after every epoch, and the best checkpoint each time the
monitored metric improves. On a run whose epochs take 10 ms, writing (and syncing) a file each epoch costs
more than the training. `IntervalCheckpoint` keeps `ModelCheckpoint`'s choice of the best epoch, but holds
that checkpoint in memory (a copy, taken when the metric improves) and writes files at most every
`write_interval` seconds, at the first epoch end after the interval: the held best checkpoint first, then
`last.ckpt` with the state of that moment. Both are also written when training ends (so a run shorter than
the interval still has both), and the held best one when training stops on an exception; on Ctrl-C or
SIGTERM `Resumable` (callbacks/resumable.py) writes `last.ckpt` as well.

A process killed outright (SIGKILL, a crash, a power cut) loses at most the last `write_interval` seconds:
`resume=RUN_DIR` continues from the `last.ckpt` on disk, and the best checkpoint that file names is on disk
too (it was written first).

Only public Lightning interfaces are used: the callback hooks, and the strategy's `checkpoint_io` plugin,
which is wrapped in `HeldWrites` so that the saves `ModelCheckpoint` makes inside its hooks are held.
"""

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import lightning as L
from lightning.fabric.plugins import CheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

from litlab.checkpoints import copy_checkpoint
from litlab.errors import LitlabError


class IntervalCheckpoint(ModelCheckpoint):
    def __init__(self, write_interval: float = 30.0, save_last: bool = True, **kwargs: Any):
        """write_interval: seconds between writes (0: after every epoch); the other arguments are ModelCheckpoint's."""
        if write_interval < 0:
            raise LitlabError(
                f"callbacks.model_checkpoint.write_interval={write_interval}: use 0 or more "
                "(seconds between checkpoint writes; 0 writes after every epoch)"
            )
        super().__init__(save_last=False, **kwargs)  # last.ckpt is written here, at each write (see `write`)
        self.write_interval, self.write_last = write_interval, save_last
        self._written_at = time.monotonic()
        self._written_step = -1  # the global step of the last written last.ckpt
        self._state_key: str | None = None

    @property
    def state_key(self) -> str:
        # ModelCheckpoint spells its settings out into this key each time it is read, and Lightning reads it at
        # every hook it calls on the callback (dozens an epoch). The settings are fixed once it is built.
        if self._state_key is None:
            self._state_key = super().state_key
        return self._state_key

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if not isinstance(trainer.strategy.checkpoint_io, HeldWrites):
            trainer.strategy.checkpoint_io = HeldWrites(trainer.strategy.checkpoint_io)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._written_at = time.monotonic()

    # ModelCheckpoint's hooks decide what to save; what they save is held in memory.
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        with self._held(trainer):
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        with self._held(trainer):
            super().on_validation_end(trainer, pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        with self._held(trainer):
            super().on_train_epoch_end(trainer, pl_module)
        # Every rank must agree (a write is collective under DDP): rank 0's clock decides.
        due = time.monotonic() - self._written_at >= self.write_interval
        if trainer.strategy.broadcast(due):
            self.write(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self.write(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        super().on_exception(trainer, pl_module, exception)
        # The held best checkpoint was taken after a validation, from finite weights: keep it.
        if isinstance(trainer.strategy.checkpoint_io, HeldWrites):
            trainer.strategy.checkpoint_io.flush()

    def write(self, trainer: L.Trainer) -> None:
        """Write the held checkpoints, then last.ckpt with the current state (skipped if already written)."""
        io = trainer.strategy.checkpoint_io
        if self.write_last and trainer.global_step != self._written_step and not trainer.fast_dev_run:
            self.last_model_path = self.format_checkpoint_name({}, self.CHECKPOINT_NAME_LAST)
            trainer.save_checkpoint(self.last_model_path, weights_only=self.save_weights_only)  # held ones first
            self._written_step = trainer.global_step
        elif isinstance(io, HeldWrites):
            io.flush()
        self._written_at = time.monotonic()
        for logger in trainer.loggers:  # scalars held on an interval reach the disk with this epoch's (loggers/)
            if hasattr(logger, "write_at_next_save"):
                logger.write_at_next_save()

    @contextlib.contextmanager
    def _held(self, trainer: L.Trainer) -> Iterator[None]:
        io = trainer.strategy.checkpoint_io
        if not isinstance(io, HeldWrites):
            yield
            return
        io.holding = True
        try:
            yield
        finally:
            io.holding = False


# Checkpoint entries that training does not change: Lightning's copies of the system's and data module's
# `save_hyperparameters()`.
UNCHANGING = frozenset({"hyper_parameters", "datamodule_hyper_parameters", "hparams_name", "datamodule_hparams_name"})


class HeldWrites(CheckpointIO):
    """Wraps a checkpoint writer; while `holding`, saves are kept in memory and removals are postponed.

    `flush()` writes what is held, in the order it was saved, then makes the postponed removals (so a
    replaced best checkpoint disappears only once its successor is on disk). A save made while not
    holding flushes first, so files always reach the disk in the order they were saved.
    """

    def __init__(self, checkpoint_io: CheckpointIO):
        self.checkpoint_io, self.holding = checkpoint_io, False
        self.pending: dict[str, dict] = {}  # path -> checkpoint, in the order saved
        self.removals: list[str] = []

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        path = str(path)
        if self.holding:
            self.pending.pop(path, None)
            self.removals = [p for p in self.removals if p != path]
            # A copy: the tensors in `checkpoint` are the live weights and optimizer state. The hyperparameters
            # (the run's whole config) never change during training: shared, not copied at every new best.
            self.pending[path] = {k: v if k in UNCHANGING else copy_checkpoint(v) for k, v in checkpoint.items()}
            return
        self.flush()
        self.checkpoint_io.save_checkpoint(checkpoint, path, storage_options=storage_options)

    def remove_checkpoint(self, path) -> None:
        if self.pending.pop(str(path), None) is not None:  # held, never written: nothing on disk to remove
            return
        if self.holding:
            self.removals.append(str(path))
            return
        self.flush()
        self.checkpoint_io.remove_checkpoint(path)

    def load_checkpoint(self, path, *args: Any, **kwargs: Any) -> dict:
        self.flush()
        return self.checkpoint_io.load_checkpoint(path, *args, **kwargs)

    def flush(self) -> None:
        while self.pending:
            path = next(iter(self.pending))
            self.checkpoint_io.save_checkpoint(self.pending[path], path)
            del self.pending[path]
        removals, self.removals = self.removals, []
        for path in removals:
            self.checkpoint_io.remove_checkpoint(path)

    def teardown(self) -> None:
        self.flush()
        self.checkpoint_io.teardown()
