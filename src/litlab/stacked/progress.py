"""Where a member's run stands, in the terms of a Lightning checkpoint: `epoch`, `global_step` and `loops`.

A single run's checkpoint holds its Trainer's loop progress (`trainer.fit_loop.state_dict()` and its
siblings, under `loops`), which `Trainer.fit(ckpt_path=...)` restores to continue the run where it stopped:
that is how `python train.py resume=RUN_DIR` works. The stacked loop has no Trainer. `Position` counts what
the single run's loops count, and `loops()` writes those counts in the layout of Lightning's own
checkpoints (2.x), for the three moments at which a member's checkpoint is taken:

- "validated": after the validation of epoch E, as ModelCheckpoint saves the best checkpoint (in
  `on_train_epoch_end` when validation runs every epoch, else in `on_validation_end`, one step of
  bookkeeping earlier); also a diverged member's last.ckpt;
- "interrupted": after batch k of epoch E, before the epoch's last batch (Ctrl-C or SIGTERM; the stacked
  loop takes a signal that arrives at an epoch's last batch one step later, as there Lightning would
  first validate);
- "end": after the last epoch (a completed member's last.ckpt, written in `on_train_end`).

tests/test_stacked.py compares these with the checkpoints the basic launcher's single runs write for the
same jobs, so a change in Lightning's layout shows there.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Position:
    moment: str  # "validated", "interrupted" or "end"
    epoch: int  # the epoch in progress (0-based); for "end", the last one
    batch: int  # batches done in that epoch
    step: int  # optimizer steps done in all (one per batch)
    batches: int  # batches per training epoch
    val_batches: int  # batches per validation
    validated_this_epoch: bool  # the validation of `epoch` has run
    validated_before: bool  # some validation has run (this epoch or an earlier one)
    scheduler_steps: int  # the scheduler's steps so far, and in this epoch (Lightning's scheduler_progress)
    scheduler_steps_this_epoch: int
    saves_on_train_epoch_end: bool  # ModelCheckpoint saves in on_train_epoch_end (validation every epoch)

    @property
    def checkpoint_epoch(self) -> int:
        """The checkpoint's `epoch` (Trainer.current_epoch): after the last epoch, the number of epochs."""
        return self.epoch + 1 if self.moment == "end" else self.epoch

    def loops(self) -> dict:
        return {
            "fit_loop": self._fit_loop(),
            "validate_loop": _evaluation_loop(),
            "test_loop": _evaluation_loop(),
            "predict_loop": {"state_dict": {}, "batch_progress": {"total": _count(0, 4), "current": _count(0, 4)}},
        }

    def _fit_loop(self) -> dict:
        k, step = self.batch, self.step
        # Lightning counts an epoch "processed" when its training part is over, "completed" after its end hooks.
        processed = (
            self.epoch + 1
            if self.moment == "end" or (self.moment == "validated" and self.saves_on_train_epoch_end)
            else self.epoch
        )
        completed = self.epoch + 1 if self.moment == "end" else self.epoch
        epochs = {"ready": self.epoch + 1, "completed": completed, "started": self.epoch + 1, "processed": processed}
        # It adds the step's batch to _batches_that_stepped after validating, so on_validation_end sees one less.
        stepped = step - 1 if self.moment == "validated" and not self.saves_on_train_epoch_end else step
        val_now = self.val_batches if self.validated_this_epoch else 0
        val_last = self.val_batches if self.validated_before else 0
        return {
            "state_dict": {"combined_loader": [{"epoch": self.epoch, "served": k}]},  # litlab's BatchLoader state
            "epoch_loop.state_dict": {"_batches_that_stepped": stepped},
            "epoch_loop.batch_progress": {
                "total": _count(step, 4),
                "current": _count(k, 4),
                "is_last_batch": k == self.batches,
            },
            "epoch_loop.scheduler_progress": {
                "total": _count(self.scheduler_steps, 2),
                "current": _count(self.scheduler_steps_this_epoch, 2),
            },
            "epoch_loop.automatic_optimization.state_dict": {},
            "epoch_loop.automatic_optimization.optim_progress": {
                "optimizer": {
                    "step": {"total": _count(step, 2), "current": _count(k, 2)},
                    "zero_grad": {"total": _count(step, 3), "current": _count(k, 3)},
                }
            },
            "epoch_loop.manual_optimization.state_dict": {},
            "epoch_loop.manual_optimization.optim_step_progress": {"total": _count(0, 2), "current": _count(0, 2)},
            "epoch_loop.val_loop.state_dict": {},
            "epoch_loop.val_loop.batch_progress": {
                "total": _count(val_now, 4),
                "current": _count(val_last, 4),
                "is_last_batch": self.validated_before,
            },
            "epoch_progress": {"total": dict(epochs), "current": dict(epochs)},
        }


FIELDS = ("ready", "completed", "started", "processed")  # Lightning's progress trackers, in their order


def _count(value: int, fields: int) -> dict:
    return {name: value for name in FIELDS[:fields]}


def _evaluation_loop() -> dict:
    return {
        "state_dict": {},
        "batch_progress": {"total": _count(0, 4), "current": _count(0, 4), "is_last_batch": False},
    }
