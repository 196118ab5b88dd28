"""Regression: squared-error loss; on synthetic data, how far the learned w and b are from the true ones.

A table's targets are standardised for training (data=csv: `target_scaling`, after log(1 + y) with
`data.log_target`); the loss is taken there, while `*/mse`, `*/rmse` and `*/r2` (and `*/log_rmse`, d2l 5.7's
score, with `data.log_target`) compare predictions and targets in the target's own units.
"""

import torch
import torch.nn.functional as F
from torchmetrics import MeanSquaredError, MeanSquaredLogError, MetricCollection, R2Score

from litlab.errors import LitlabError
from litlab.systems.base import System
from litlab.systems.closed_form import solve_into


class Regressor(System):
    def __init__(
        self, network, optimizer, true_params: dict | None = None, target_scaling: dict | None = None, **kwargs
    ):
        # {"shift", "scale", "log"}: the network predicts z and the target is shift + scale * z (exp(.) - 1 if log)
        self.target_scaling = target_scaling
        super().__init__(network, optimizer, **kwargs)
        self.true_params = true_params  # {"w": [...], "b": float} when the data was generated from them
        self.closed_form = getattr(network, "solver", "sgd") == "closed_form"
        if self.closed_form:
            if self.l1 != 0:
                raise LitlabError("model.solver=closed_form has no closed form with regularization.l1 > 0: set it to 0")
            self.automatic_optimization = False  # the weights are solved for, never stepped

    def on_fit_start(self):
        if self.closed_form:  # the whole training split, on every process (it is held in memory)
            solve_into(self.network.linear, *self.trainer.datamodule.splits["train"], l2=self.l2)

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        if self.closed_form and batch_idx == 0:
            # Counted as the fit's one optimizer step, as Lightning saves checkpoints only after a step.
            # It changes nothing: no backward ran, no parameter has a gradient, and optimizers skip those.
            self.optimizers().step()
        return loss

    def loss_fn(self, output, target):
        return F.mse_loss(output, target.to(output.dtype))

    def make_scores(self):
        # Without target scaling the loss is the mean squared error too; `*/mse` keeps the name stable.
        scores = {"mse": MeanSquaredError(), "rmse": MeanSquaredError(squared=False), "r2": R2Score()}
        if self.target_scaling and self.target_scaling["log"]:
            scores["log_rmse"] = RootMeanSquaredLogError()
        return MetricCollection(scores)

    def to_units(self, z):
        if not self.target_scaling:
            return z
        y = z * self.target_scaling["scale"] + self.target_scaling["shift"]
        return torch.expm1(y) if self.target_scaling["log"] else y

    def on_train_epoch_end(self):
        super().on_train_epoch_end()
        if self.closed_form:
            self.trainer.should_stop = True  # one epoch measures the solution; more would repeat it
        self.log_dict(self.param_errors())

    def param_errors(self) -> dict[str, torch.Tensor]:
        """On synthetic data, how far the learned w and b are from the true ones.

        Logged as `params/w_error` and `params/b_error`.
        """
        linear = getattr(self.network, "linear", None)
        if self.true_params is None or linear is None:
            return {}
        w_true = torch.tensor(self.true_params["w"], dtype=linear.weight.dtype, device=linear.weight.device)
        errors = {"params/w_error": torch.linalg.vector_norm(linear.weight.detach().flatten() - w_true)}
        if linear.bias is not None:
            errors["params/b_error"] = (linear.bias.detach()[0] - self.true_params["b"]).abs()
        return errors


class RootMeanSquaredLogError(MeanSquaredLogError):
    """sqrt(mean((log(1 + y_hat) - log(1 + y))^2)): the log RMSE d2l 5.7 scores house prices by."""

    def compute(self) -> torch.Tensor:
        return super().compute().sqrt()
