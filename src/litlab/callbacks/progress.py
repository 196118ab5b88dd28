"""Lightning's rich progress bar, updated only as often as it is redrawn.

Lightning's `RichProgressBar` redraws `refresh_rate` times a second, but after every batch it still
updates its task and re-reads the logged metrics: about 0.1 ms per step here, a twentieth of a
784-256-10 MLP's whole step. This bar skips the updates nobody would see. It hands a batch to
Lightning's bar when 1 / refresh_rate seconds have passed since the last one it handed over, and
always for the last batch of a loop, so the bar ends full and the metrics shown are current.

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

    def configure_columns(self, trainer) -> list:
        return [c for c in super().configure_columns(trainer) if not isinstance(c, ProcessingSpeedColumn)]

    def _due(self, batch_idx: int, total: int | float) -> bool:
        """Whether batch `batch_idx` (of `total` in this loop) should be shown; restarts the clock if so."""
        now = monotonic()
        if now < self._next_update and batch_idx + 1 < total:
            return False
        self._next_update = now + 1 / self.refresh_rate
        return True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        # A bar not created yet (a resumed epoch) is created by Lightning's hook: always call it then.
        if self.is_enabled and (self.train_progress_bar_id is None or self._due(batch_idx, self.total_train_batches)):
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    # `is_enabled` first: on ranks > 0 Lightning disables the bar (and the live plot does in a notebook),
    # and its batch totals are not set there.
    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0):
        if self.is_enabled and self._due(batch_idx, self.total_val_batches_current_dataloader):
            super().on_validation_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0):
        if self.is_enabled and self._due(batch_idx, self.total_test_batches_current_dataloader):
            super().on_test_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)

    def on_validation_end(self, trainer, pl_module) -> None:
        super().on_validation_end(trainer, pl_module)
        if (
            self.is_enabled
            and self.progress is not None
            and self.val_progress_bar_id is not None
            and not trainer.sanity_checking
        ):
            self.progress.remove_task(self.val_progress_bar_id)
            self.val_progress_bar_id = None  # Lightning's next validation adds a fresh task
