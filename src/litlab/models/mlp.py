"""Multilayer perceptron: hidden affine layers, each followed by an activation and dropout."""

from collections.abc import Sequence

import torch
from torch import nn

from litlab.models.init import init_weights
from litlab.models.scratch import layers_for

# The activation's class name, in torch.nn and in litlab.models.scratch alike.
ACTIVATIONS = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "leaky_relu": "LeakyReLU"}


class MLP(nn.Module):
    tasks = ("classification", "regression")

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: list[int] = (256,),
        activation: str = "relu",
        dropout: float | list[float] = 0.0,
        init: str = "default",
        init_std: float = 0.01,
        impl: str = "torch",
    ):
        super().__init__()
        hidden = list(hidden)
        if activation not in ACTIVATIONS:
            raise ValueError(f"model.activation={activation!r}: use one of {', '.join(ACTIVATIONS)}")
        self.impl = impl  # "scratch": hand-written layers, and the classifier uses the hand-written cross-entropy
        layers = layers_for(impl)
        # One dropout rate for every hidden layer, or a list with one rate per hidden layer.
        rates = list(dropout) if isinstance(dropout, Sequence) else [dropout] * len(hidden)  # also a ListConfig
        if len(rates) != len(hidden):
            raise ValueError(f"model.dropout has {len(rates)} rates for {len(hidden)} hidden layers")
        modules: list[nn.Module] = [layers.Flatten()]
        for width_in, width, rate in zip([in_features] + hidden, hidden, rates):
            modules += [layers.Linear(width_in, width), getattr(layers, ACTIVATIONS[activation])()]
            if rate > 0:
                modules.append(layers.Dropout(rate))
        modules.append(layers.Linear(([in_features] + hidden)[-1], out_features))
        self.net = nn.Sequential(*modules)
        self.single_output = out_features == 1
        init_weights(self, init, init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out.squeeze(-1) if self.single_output else out  # regression: (N,), classification: (N, classes)
