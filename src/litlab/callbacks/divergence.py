"""Stop a run whose training loss became NaN or infinite, instead of training on NaNs."""

import lightning as L
import torch

from litlab.errors import LitlabError


class Diverged(LitlabError):
    """The training loss stopped being a finite number; `run.py` records the run as `diverged`."""

    def __init__(self, loss: float, epoch: int, step: int, lr: float | None):
        self.loss, self.epoch, self.step, self.lr = loss, epoch, step, lr
        now = f" (now {lr:g})" if lr is not None else ""
        super().__init__(
            f"the training loss became {loss} at epoch {epoch}, step {step}: the run diverged; "
            f"try a smaller learning rate, e.g. optimizer.lr{now} divided by 10"
        )


class StopOnDivergence(L.Callback):
    """Checks the training losses every `check_every` steps and names the first bad step.

    Reading a loss on the host waits for the GPU to finish that step, so the losses are kept on the
    device and checked together: one wait per `check_every` steps. They are also checked before each
    validation and at the end of each training epoch, so no checkpoint is written from NaN weights.
    Epochs and steps are counted as Lightning and TensorBoard count them: from 0, steps over the whole run.
    """

    def __init__(self, check_every: int = 20):
        if check_every < 1:
            raise LitlabError(f"callbacks.divergence.check_every={check_every}: use 1 or more (steps between checks)")
        self.check_every = check_every
        self.losses: list[torch.Tensor] = []  # since the last check, and the global step of each
        self.steps: list[int] = []

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int):
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        self.losses.append(loss.detach())
        # global_step has already counted this step's optimizer update: this step is the one before.
        self.steps.append(trainer.global_step - 1)
        if len(self.losses) >= self.check_every:
            self.check(trainer)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.check(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.check(trainer)

    def check(self, trainer: L.Trainer) -> None:
        """Raise `Diverged` for the first non-finite loss among those gathered since the last check."""
        if not self.losses:
            return
        losses, steps = torch.stack(self.losses).float(), self.steps
        self.losses, self.steps = [], []
        finite = torch.isfinite(losses)
        if bool(finite.all()):  # the one read on the host, and the one wait for a GPU
            return
        first = int((~finite).nonzero()[0])
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None
        raise Diverged(float(losses[first]), trainer.current_epoch, steps[first], lr)
