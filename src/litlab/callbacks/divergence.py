"""Stop a run at the training step whose loss is NaN or infinite, instead of training on NaNs."""

import lightning as L
import torch

from litlab.errors import LitlabError


class Diverged(LitlabError):
    """The training loss stopped being a finite number; `run.py` records the run as `diverged`."""

    def __init__(self, loss: float, epoch: int, step: int, lr: float | None):
        self.loss, self.epoch, self.step, self.lr = loss, epoch, step, lr
        now = f" (now {lr:g})" if lr is not None else ""
        super().__init__(f"the training loss became {loss} at epoch {epoch}, step {step}: the run diverged; "
                         f"try a smaller learning rate, e.g. optimizer.lr{now} divided by 10")


class StopOnDivergence(L.Callback):
    """Checks the loss of every training step (one comparison on the loss tensor) and stops at the first bad one.

    Epochs and steps are counted as Lightning and TensorBoard count them: from 0, steps over the whole run.
    """

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int):
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is None or bool(torch.isfinite(loss).all()):
            return
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None
        # global_step has already counted this step's optimizer update: the bad step is the one before.
        raise Diverged(float(loss.detach().float().mean()), trainer.current_epoch, trainer.global_step - 1, lr)
