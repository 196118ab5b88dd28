"""Lightning's EarlyStopping for every member at once: its state as (N,) tensors, its rule as masked updates.

A single run's `EarlyStopping` checks the monitored metric once per validation (in `on_train_epoch_end`
when validation runs every epoch, else in `on_validation_end`), before ModelCheckpoint saves: a metric
that is not finite stops it (`check_finite`); one better than the best by more than `min_delta` becomes
the best and resets the count; otherwise the count grows, and at `patience` it stops. Here the same rule
runs on the device for all members, each with its own best and count; a member that stops leaves the
"still training" mask. Its state at any moment is a row of `state` (best, wait, reason, stopped epoch,
the metric's last value), which the loop copies with the best checkpoints and reads once per validation;
the callback's `state_dict` and the stopping message are made from a row when the member's files are
written (`callback_state`, `record`).
"""

import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason
from omegaconf import DictConfig

BEST, WAIT, REASON, STOPPED_EPOCH, CURRENT = range(5)  # the columns of `state`
SIGNAL = " Signaling Trainer to stop."  # the end of Lightning's messages


class StackedEarlyStopping:
    def __init__(self, cfg: DictConfig, members: int, device: torch.device):
        self.callback: EarlyStopping = instantiate(cfg)  # its settings, as the single run's callback reads them
        callback = self.callback
        self.monitor, self.patience = callback.monitor, callback.patience
        self.min_delta = callback.min_delta  # signed by Lightning for the mode
        self.op = callback.monitor_op
        self.state = torch.zeros(members, 5, device=device)
        self.state[:, BEST] = float(callback.best_score)
        self.state[:, CURRENT] = float("nan")

    def check(self, values: dict[str, torch.Tensor], live: torch.Tensor, epoch: int) -> torch.Tensor:
        """The members in `live` (N,) check their monitored value of this validation; the ones that stop now."""
        if self.monitor not in values:
            raise ValueError(
                f"early stopping conditioned on metric `{self.monitor}` which is not available; "
                f"use one of {', '.join(sorted(values))}"
            )
        current = values[self.monitor].to(self.state.dtype)
        best, wait = self.state[:, BEST], self.state[:, WAIT]
        not_finite = ~torch.isfinite(current) if self.callback.check_finite else torch.zeros_like(live)
        improved = ~not_finite & self.op(current - self.min_delta, best)
        exhausted = ~not_finite & ~improved & (wait + 1 >= self.patience)
        stops = live & (not_finite | exhausted)
        reason = torch.where(not_finite, EarlyStoppingReason.NON_FINITE_METRIC.value, 0.0)
        reason = torch.where(exhausted, EarlyStoppingReason.PATIENCE_EXHAUSTED.value, reason)
        new = torch.stack(
            [
                torch.where(improved, current, best),
                torch.where(not_finite, wait, torch.where(improved, 0.0, wait + 1)),
                torch.where(stops, reason, self.state[:, REASON]),
                torch.where(stops, float(epoch), self.state[:, STOPPED_EPOCH]),
                current,
            ],
            dim=1,
        )
        self.state = torch.where(live.view(-1, 1), new, self.state)
        return stops

    # -- on the host, where a member's files are written ---------------------------------------------
    def callback_state(self, row) -> dict:
        """The single run's callback state at the moment of `row` (a row of `state`, on the host), by state key."""
        callback = self.callback
        reason = EarlyStoppingReason(int(row[REASON]))
        callback.load_state_dict(
            {
                "wait_count": int(row[WAIT]),
                "stopped_epoch": int(row[STOPPED_EPOCH]),
                "best_score": torch.tensor(float(row[BEST]), dtype=torch.float32),
                "patience": self.patience,
                "stopping_reason": reason.value,
                "stopping_reason_message": self._message(row, reason),
            }
        )
        return {callback.state_key: callback.state_dict()}

    def record(self, row) -> dict:
        """What a stopped member's metrics.json says, as a single run's (run.py's `early_stop_record`)."""
        from litlab.run import early_stop_record

        self.callback_state(row)
        return early_stop_record(self.callback)

    def _message(self, row, reason: EarlyStoppingReason) -> str | None:
        """Lightning's stopping_reason_message for the reasons the stacked loop stops on."""
        best = float(row[BEST])
        if reason == EarlyStoppingReason.NON_FINITE_METRIC:
            current = float(row[CURRENT])
            return (
                f"Monitored metric {self.monitor} = {current} is not finite."
                f" Previous best value was {best:.3f}.{SIGNAL}"
            )
        if reason == EarlyStoppingReason.PATIENCE_EXHAUSTED:
            return (
                f"Monitored metric {self.monitor} did not improve in the last {int(row[WAIT])} records."
                f" Best score: {best:.3f}.{SIGNAL}"
            )
        return None
