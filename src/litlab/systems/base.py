"""The training system every litlab run uses: a network, an optimizer factory, regularization, metrics.

Subclasses say only what differs between tasks: the loss and the score metrics. One `_step` serves
training, validation and test; metrics accumulate on the device and are logged once per epoch, so the
step itself never waits for the host (`log_step_metrics=True` adds per-step values, at a cost).
"""

import warnings
from functools import partial

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric, MetricCollection

from litlab.errors import LitlabError
from litlab.systems.step_buffer import StepBuffer

STAGES = ("train", "val", "test")

# Under DDP Lightning asks for `sync_dist=True`; the values logged here come from torchmetrics'
# compute(), which has already reduced them over all processes.
warnings.filterwarnings("ignore", ".*when logging on epoch level in distributed setting.*")


class System(L.LightningModule):
    def __init__(
        self,
        network: nn.Module,
        optimizer: partial,
        scheduler: partial | None = None,
        l1: float = 0.0,
        l2: float = 0.0,
        l2_impl: str = "torch",
        log_step_metrics: bool = False,
        config: dict | None = None,
        metrics: bool = True,
    ):
        """`optimizer` / `scheduler` are factories (Hydra `_partial_: true`) that take params / optimizer.

        l2: weight decay on weights only (biases are not decayed). l1: l1 * sum |w| added to the loss.
        l2_impl: "torch" applies l2 as the optimizer's weight decay; "scratch" adds (l2 / 2) * ||w||^2 to the loss.
        log_step_metrics: also log `train/loss_step` and the batch scores (`train/acc_step`) every step.
        config: the run's resolved config, saved in every checkpoint so `eval.py` can rebuild the run.
        metrics: False builds the system without its torchmetrics objects (each stage's loss mean and scores),
        for a caller that computes the metrics itself (the stacked engine, litlab/stacked/system.py: about 5 ms
        a member saved). Such a system cannot be trained or tested by a Trainer. The metrics hold no
        state_dict entries, so its checkpoints are the same either way; the argument is not saved with them.
        """
        super().__init__()
        self.save_hyperparameters(ignore=["network", "optimizer", "scheduler", "metrics"], logger=False)
        self.network = network
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        if l2_impl not in ("torch", "scratch"):
            raise LitlabError(f"regularization.impl={l2_impl!r}: use torch (weight decay) or scratch (in the loss)")
        self.l1, self.l2, self.l2_impl, self.log_step_metrics = l1, l2, l2_impl, log_step_metrics
        if not metrics:
            return
        # One set of metrics per stage, keyed "train_" etc. ("train" itself is a Module method name).
        self.loss_means = nn.ModuleDict({f"{stage}_": MeanMetric() for stage in STAGES})
        self.scores = nn.ModuleDict({f"{stage}_": self.make_scores().clone(prefix=f"{stage}/") for stage in STAGES})
        # Each step's metric inputs are handed to the metrics above in chunks (see step_buffer.py), so their
        # checks (NaN, target range: each a wait for the device) run once per chunk, not once per step.
        self.pending = {stage: StepBuffer(self.loss_means[f"{stage}_"], self.scores[f"{stage}_"]) for stage in STAGES}

    # -- what a task defines --------------------------------------------------------------------
    def loss_fn(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def make_scores(self) -> MetricCollection:
        raise NotImplementedError

    # -- the one step ---------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)

    def _step(self, batch, stage: str) -> torch.Tensor:
        x, y = batch
        output = self.network(x)
        loss = self.loss_fn(output, y)
        if stage == "train" and self.log_step_metrics:
            # forward() both accumulates the epoch state and returns this batch's values.
            self.loss_means["train_"].update(loss.detach(), weight=len(y))
            batch_scores = self.scores["train_"](*self.score_inputs(output.detach(), y))
            self.log_dict({"train/loss_step": loss.detach(), **{f"{k}_step": v for k, v in batch_scores.items()}})
        else:
            self.pending[stage].add(loss.detach(), *self.score_inputs(output.detach(), y))
        return loss

    def to_units(self, z: torch.Tensor) -> torch.Tensor:
        """Outputs or training targets in the target's own units: as they are, unless a regressor scaled them."""
        return z

    def score_inputs(self, output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What the score metrics compare: outputs and targets in the target's own units."""
        return self.to_units(output), self.to_units(target)

    def predictions(self, output: torch.Tensor) -> torch.Tensor:
        """What `predict_step` returns for the network's outputs: numbers in the target's units (a classifier:
        class probabilities)."""
        return self.to_units(output)

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train") + self.penalty()

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def predict_step(self, batch, batch_idx):
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.predictions(self.network(x))

    # -- once per epoch ---------------------------------------------------------------------------
    def on_train_epoch_end(self):
        self._log_epoch("train")
        self.log("params/weight_norm", self.weight_norm())

    def on_validation_epoch_end(self):
        self._log_epoch("val")

    def on_test_epoch_end(self):
        self._log_epoch("test")

    def _log_epoch(self, stage: str) -> None:
        # torchmetrics syncs across processes inside compute(): each epoch value covers the whole split.
        self.pending[stage].flush()
        # The progress bar shows every loss, and the scores of validation and test.
        self.log(f"{stage}/loss", self.loss_means[f"{stage}_"].compute(), prog_bar=True)
        self.log_dict(self.scores[f"{stage}_"].compute(), prog_bar=stage != "train")
        self.loss_means[f"{stage}_"].reset()
        self.scores[f"{stage}_"].reset()

    # -- regularization and optimizers ---------------------------------------------------------------
    def weights(self) -> list[nn.Parameter]:
        """The trainable weight matrices: the parameters regularization acts on (biases excluded)."""
        return [p for p in self.network.parameters() if p.requires_grad and p.ndim > 1]

    def weight_norm(self) -> torch.Tensor:
        """The Euclidean norm of all weights together (`params/weight_norm`)."""
        return torch.sqrt(sum(w.detach().pow(2).sum() for w in self.weights()))

    def penalty(self) -> torch.Tensor | float:
        penalty = 0.0
        if self.l1 != 0:
            penalty = penalty + self.l1 * sum(w.abs().sum() for w in self.weights())
        if self.l2 != 0 and self.l2_impl == "scratch":  # d2l 3.7: its gradient l2 * w is the weight decay
            penalty = penalty + self.l2 / 2 * sum(w.pow(2).sum() for w in self.weights())
        return penalty

    def configure_optimizers(self):
        params = [p for p in self.network.parameters() if p.requires_grad]
        weight_ids = {id(w) for w in self.weights()}
        decay = self.l2 if self.l2_impl == "torch" else 0.0  # scratch: in the loss instead (penalty)
        groups = [
            {"params": [p for p in params if id(p) in weight_ids], "weight_decay": decay},
            {"params": [p for p in params if id(p) not in weight_ids], "weight_decay": 0.0},
        ]
        optimizer = self.optimizer_factory([g for g in groups if g["params"]])
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        # "monitor" is read only by ReduceLROnPlateau (scheduler=plateau).
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "epoch", "monitor": "val/loss"},
        }
