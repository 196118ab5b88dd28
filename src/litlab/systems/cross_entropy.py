"""Softmax and cross-entropy written from their formulas, numerically stable (d2l 4.2, 4.5.2).

The classifier uses `cross_entropy` for networks built with `model.impl=scratch`, torch's otherwise;
tests/test_scratch_layers.py checks both agree to 1e-6, logits of size 1e4 included.
"""

import torch


def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """log softmax(o)_j = o_j - log sum_k exp(o_k), over the last dimension, by log-sum-exp.

    With m = max_k o_k: o_j - m - log sum_k exp(o_k - m). Every exponent is <= 0, so nothing overflows
    (exp(89) is already inf in float32) and at least one term of the sum is 1, so the log never sees 0.
    m is a constant for autograd (detached): the value does not depend on it, so neither does the gradient.
    """
    m = logits.amax(dim=-1, keepdim=True).detach()
    shifted = logits - torch.where(torch.isfinite(m), m, 0.0)  # a row of -inf stays -inf, not NaN
    return shifted - torch.log(torch.exp(shifted).sum(dim=-1, keepdim=True))


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """exp(o_j) / sum_k exp(o_k), over the last dimension."""
    return torch.exp(log_softmax(logits))


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of -log softmax(o)_y: the negative log-likelihood of the true classes."""
    return -log_softmax(logits).gather(-1, target.long().unsqueeze(-1)).mean()
