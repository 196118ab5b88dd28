"""Softmax regression: a linear map to class logits (the softmax lives in the cross-entropy loss)."""

import torch
from torch import nn

from litlab.models.init import init_weights


class SoftmaxRegression(nn.Module):
    tasks = ("classification",)

    def __init__(self, in_features: int, out_features: int, init: str = "normal", init_std: float = 0.01):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(in_features, out_features)
        init_weights(self, init, init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.flatten(x))   # (N, classes) logits
