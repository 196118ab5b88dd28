"""One row per epoch of every metric logged per epoch: `litlab.train(...).history`, and what the live plot draws.

Lightning hands a callback the epoch's metrics only after the epoch: the system logs its train metrics
in its own `on_train_epoch_end`, which runs after the callbacks' hook. So the validation metrics of an
epoch are read when its validation ends, and the rest when the next epoch starts (or training ends).
An epoch without validation (`trainer.check_val_every_n_epoch`) has no val values in its row.
"""

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor


class EpochHistory(L.Callback):
    def __init__(self):
        self.rows: dict[int, dict[str, float]] = {}  # epoch (from 0, as Lightning and TensorBoard count) -> metrics
        self._ended: int | None = None  # an epoch whose train metrics are not read yet

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._row(trainer.current_epoch).update(_numbers(trainer.callback_metrics, lambda k: k.startswith("val/")))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._ended = trainer.current_epoch
        for monitor in (c for c in trainer.callbacks if isinstance(c, LearningRateMonitor)):
            # The monitor logged this epoch's learning rates when the epoch started, to the loggers only.
            self._row(self._ended).update({name: values[-1] for name, values in monitor.lrs.items() if values})

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close_epoch(trainer, last=False)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close_epoch(trainer, last=True)

    def _close_epoch(self, trainer: L.Trainer, last: bool) -> None:
        if self._ended is None:
            return
        epoch, self._ended = self._ended, None
        self._row(epoch).update(_numbers(trainer.callback_metrics, _train_epoch_metric))
        self.epoch_done(trainer, epoch, last)

    def epoch_done(self, trainer: L.Trainer, epoch: int, last: bool) -> None:
        """Called when an epoch's row is complete; `last`: and training has ended."""

    def _row(self, epoch: int) -> dict[str, float]:
        return self.rows.setdefault(epoch, {})

    def frame(self):
        """The rows as a pandas DataFrame: column `epoch`, then one column per metric in name order."""
        import pandas as pd

        frame = pd.DataFrame.from_dict(self.rows, orient="index").sort_index()
        frame = frame[sorted(frame.columns)]
        frame.insert(0, "epoch", frame.index)
        return frame.reset_index(drop=True)


def history_of(trainer: L.Trainer):
    """The epoch history a trainer's `EpochHistory` callback recorded (the live plot is one), or an empty table."""
    import pandas as pd

    for callback in trainer.callbacks:
        if isinstance(callback, EpochHistory):
            return callback.frame()
    return pd.DataFrame({"epoch": []})


def _train_epoch_metric(name: str) -> bool:
    """Logged once per training epoch: not val (read when validation ends), test, or per-step values."""
    return not name.startswith(("val/", "test/")) and not name.endswith("_step")


def _numbers(metrics: dict, keep) -> dict[str, float]:
    return {k: (v.item() if isinstance(v, torch.Tensor) else float(v)) for k, v in metrics.items() if keep(k)}
