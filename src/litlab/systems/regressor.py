"""Regression: squared-error loss; on synthetic data, how far the learned w and b are from the true ones."""

import torch
import torch.nn.functional as F
from torchmetrics import MeanSquaredError, MetricCollection

from litlab.systems.base import System


class Regressor(System):
    def __init__(self, network, optimizer, true_params: dict | None = None, **kwargs):
        super().__init__(network, optimizer, **kwargs)
        self.true_params = true_params   # {"w": [...], "b": float} when the data was generated from them

    def loss_fn(self, output, target):
        return F.mse_loss(output, target.to(output.dtype))

    def make_scores(self):
        # The loss is the mean squared error too; `*/mse` keeps the name stable if the loss changes.
        return MetricCollection({"mse": MeanSquaredError()})

    def on_train_epoch_end(self):
        super().on_train_epoch_end()
        linear = getattr(self.network, "linear", None)
        if self.true_params is None or linear is None:
            return
        w_true = torch.tensor(self.true_params["w"], dtype=linear.weight.dtype, device=self.device)
        self.log("params/w_error", torch.linalg.vector_norm(linear.weight.detach().flatten() - w_true))
        if linear.bias is not None:
            self.log("params/b_error", (linear.bias.detach()[0] - self.true_params["b"]).abs())
