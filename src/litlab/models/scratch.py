"""The layers of `model.impl=scratch`, written from their formulas (d2l 4.2, 5.1, 5.6).

Same class names, parameter names and shapes as their `torch.nn` twins, so a network picks its layers
with `layers = layers_for(impl)`, checkpoints load across the two, and with the same seed both start
from the same weights. tests/test_scratch_layers.py compares them with torch's.
"""

import math
import sys

import torch
from torch import nn

IMPLS = ("torch", "scratch")  # model.impl


def layers_for(impl: str):
    """The module a network takes its layer classes from: `torch.nn`, or this one for `model.impl=scratch`."""
    if impl not in IMPLS:
        raise ValueError(f"model.impl={impl!r}: use one of {', '.join(IMPLS)}")
    return sys.modules[__name__] if impl == "scratch" else nn


class Flatten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1)  # (N, ...) -> (N, features)


class Linear(nn.Module):
    """x W^T + b, with W (out, in) and b (out,) initialised as torch does: U(-1/sqrt(in), 1/sqrt(in))."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        bound = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x @ self.weight.T
        return out if self.bias is None else out + self.bias


class ReLU(nn.Module):
    def forward(self, x):
        return x * (x > 0)  # max(x, 0); the derivative at 0 is taken as 0, as torch does


class LeakyReLU(nn.Module):
    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return torch.where(x > 0, x, self.negative_slope * x)


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """1 / (1 + exp(-x)), never exponentiating a positive number (exp(88) already overflows float32).

    For x >= 0 the formula itself; for x < 0 the same value as exp(x) / (1 + exp(x)). Each branch sees
    only its own inputs (the others replaced by 0), so neither overflows and no NaN leaks into gradients.
    """
    positive = x >= 0
    e_neg = torch.exp(-torch.where(positive, x, 0.0))  # exp(-x) where x >= 0, else 1
    e_pos = torch.exp(torch.where(positive, 0.0, x))  # exp(x) where x < 0, else 1
    return torch.where(positive, 1 / (1 + e_neg), e_pos / (1 + e_pos))


class Sigmoid(nn.Module):
    def forward(self, x):
        return sigmoid(x)


class Tanh(nn.Module):
    def forward(self, x):
        return 2 * sigmoid(2 * x) - 1  # (1 - exp(-2x)) / (1 + exp(-2x)), stable through sigmoid


class Dropout(nn.Module):
    """In training, keep each unit with probability 1 - p and scale it by 1 / (1 - p) (d2l 5.6).

    The expected output equals the input; p = 0 is the identity, p = 1 gives zeros. Identity in eval mode.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return torch.zeros_like(x)
        keep = (torch.rand_like(x) >= self.p).to(x.dtype)  # 1 with probability 1 - p
        return x * keep / (1 - self.p)
