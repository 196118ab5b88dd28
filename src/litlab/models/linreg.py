"""Linear regression: one affine map from the features to a single output."""

import torch
from torch import nn

from litlab.models.init import init_weights

SOLVERS = ("sgd", "closed_form")  # model.solver


class LinearRegression(nn.Module):
    tasks = ("regression",)

    def __init__(
        self,
        in_features: int,
        out_features: int = 1,
        bias: bool = True,
        init: str = "normal",
        init_std: float = 0.01,
        solver: str = "sgd",
    ):
        super().__init__()
        if solver not in SOLVERS:
            raise ValueError(f"model.solver={solver!r}: use one of {', '.join(SOLVERS)}")
        self.solver = solver  # closed_form: the regressor solves for the weights (litlab/systems/closed_form.py)
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        init_weights(self, init, init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.flatten(x)).squeeze(-1)  # (N,): one prediction per sample
