"""Softmax regression: a linear map to class logits (the softmax lives in the cross-entropy loss)."""

import torch
from torch import nn

from litlab.models.init import init_weights
from litlab.models.scratch import layers_for


class SoftmaxRegression(nn.Module):
    tasks = ("classification",)

    def __init__(
        self, in_features: int, out_features: int, init: str = "normal", init_std: float = 0.01, impl: str = "torch"
    ):
        super().__init__()
        self.impl = impl  # "scratch": hand-written layers, and the classifier uses the hand-written cross-entropy
        layers = layers_for(impl)
        self.flatten = layers.Flatten()
        self.linear = layers.Linear(in_features, out_features)
        init_weights(self, init, init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.flatten(x))  # (N, classes) logits
