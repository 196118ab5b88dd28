"""Lightning's rich progress bar, updated only as often as it is redrawn.

Lightning's `RichProgressBar` redraws `refresh_rate` times a second, but after every batch it still
updates its task and re-reads the logged metrics: about 0.1 ms per step here, a twentieth of a
784-256-10 MLP's whole step. This bar skips the updates nobody would see. It hands a batch to
Lightning's bar when 1 / refresh_rate seconds have passed since the last one it handed over, and
always for the last batch of a loop, so the bar ends full and the metrics shown are current.

The same holds for whole epochs. Lightning's bar resets its training task when an epoch starts and adds a
validation task when a validation starts, and each of these draws the bar at once (about 0.4 ms each).
An epoch shorter than a redraw would be drawn dozens of times a second where the eye sees ten. So an
epoch is shown only from its first update that is due: its start when a redraw is due by then, else its
first due batch. An epoch never shown leaves the bar on the last one that was: a moment earlier, full,
with that epoch's metrics. The last epoch (max_epochs reached, or training stopping) is always shown.

Lightning's bar also adds a new (hidden) validation task at every validation and never removes the old
ones, so after 200 epochs each redraw walks 200 tasks. This bar removes the validation task once the pass
is over: a run shows one training and at most one validation bar, whatever its length.

The bar shows no processing speed: on small data an epoch is over before rich measures one (`0.00it/s`).
"""

from time import monotonic

from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.callbacks.progress.rich_progress import ProcessingSpeedColumn


class ThrottledRichProgressBar(RichProgressBar):
    def __init__(self, refresh_rate: int = 10, **kwargs):
        """refresh_rate: redraws per second (0 hides the bar), as for Lightning's RichProgressBar."""
        super().__init__(refresh_rate=refresh_rate, **kwargs)
        self._next_update = 0.0
        self._epoch_shown = False  # whether Lightning's bar has been handed this training epoch yet

    def configure_columns(self, trainer) -> list:
        return [c for c in super().configure_columns(trainer) if not isinstance(c, ProcessingSpeedColumn)]

    def _due(self, batch_idx: int, total: int | float) -> bool:
        """Whether batch `batch_idx` (of `total` in this loop) should be shown; restarts the clock if so."""
        now = monotonic()
        if now < self._next_update and batch_idx + 1 < total:
            return False
        self._next_update = now + 1 / self.refresh_rate
        return True

    def _show_epoch(self, trainer, pl_module) -> None:
        self._epoch_shown = True
        super().on_train_epoch_start(trainer, pl_module)

    def _hidden(self, trainer) -> bool:
        """Whether this validation belongs to a training epoch the bar does not show."""
        return not self._epoch_shown and trainer.state.fn == "fit" and not trainer.sanity_checking

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_shown = False
        last = trainer.max_epochs is not None and trainer.current_epoch + 1 >= trainer.max_epochs > 0
        # A bar not created yet (the first epoch, a resumed one) is created by Lightning's hook: always call it then.
        if self.train_progress_bar_id is None or last or monotonic() >= self._next_update:
            self._show_epoch(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        # The last batch is forced only in an epoch that is shown: else the bar stays on the last one shown.
        if self.is_enabled and self._due(batch_idx, self.total_train_batches if self._epoch_shown else float("inf")):
            if not self._epoch_shown:
                self._show_epoch(trainer, pl_module)
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.is_enabled and not self._epoch_shown and trainer.should_stop:
            # Training stops here (early stopping): the bar ends on this epoch, full.
            self._show_epoch(trainer, pl_module)
            super().on_train_batch_end(trainer, pl_module, None, None, self.total_train_batches - 1)
        if self._epoch_shown:
            super().on_train_epoch_end(trainer, pl_module)

    # `is_enabled` first: on ranks > 0 Lightning disables the bar (and the live plot does in a notebook),
    # and its batch totals are not set there.
    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        if not self._hidden(trainer):
            super().on_validation_batch_start(trainer, pl_module, batch, batch_idx, dataloader_idx)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0):
        if (
            self.is_enabled
            and not self._hidden(trainer)
            and self._due(batch_idx, self.total_val_batches_current_dataloader)
        ):
            super().on_validation_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not self._hidden(trainer):
            super().on_validation_epoch_end(trainer, pl_module)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0):
        if self.is_enabled and self._due(batch_idx, self.total_test_batches_current_dataloader):
            super().on_test_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)

    def on_validation_end(self, trainer, pl_module) -> None:
        if self._hidden(trainer):
            return
        super().on_validation_end(trainer, pl_module)
        if (
            self.is_enabled
            and self.progress is not None
            and self.val_progress_bar_id is not None
            and not trainer.sanity_checking
        ):
            self.progress.remove_task(self.val_progress_bar_id)
            self.val_progress_bar_id = None  # Lightning's next validation adds a fresh task
