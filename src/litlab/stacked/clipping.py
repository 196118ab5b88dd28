"""Gradient clipping per member: what Lightning does to a single run's gradients, for N members at once.

A single run with `trainer.gradient_clip_val` clips after `backward` and before the optimizer step, over
the parameters of its optimizer (the whole network): `norm` scales the gradients by
`min(1, max_norm / (total_norm + 1e-6))` as `torch.nn.utils.clip_grad_norm_` does, `value` clamps them to
[-val, val] as `clip_grad_value_` does. Fabric's or Lightning's `clip_gradients` over the stacked
parameters would take one norm over all members; here each member's norm is taken over its own rows
(dim 0 of every stacked gradient), and the gradients are scaled by a factor tensor of one entry per member.
"""

import torch
from omegaconf import DictConfig

EPS = 1e-6  # torch.nn.utils.clip_grad_norm_'s


class Clipping:
    def __init__(self, value: float, algorithm: str):
        self.value, self.algorithm = float(value), algorithm

    @classmethod
    def of(cls, trainer: DictConfig) -> "Clipping | None":
        """The trainer config's clipping, None where Lightning clips nothing (no value, or 0)."""
        value = trainer.get("gradient_clip_val")
        if not value or value <= 0:
            return None
        return cls(value, trainer.get("gradient_clip_algorithm") or "norm")

    @torch.no_grad()
    def __call__(self, parameters: list[torch.Tensor]) -> None:
        """Clip the gradients of the stacked `parameters` (N, ...) in place, each member on its own rows."""
        grads = [p.grad for p in parameters if p.grad is not None]
        if not grads:
            return
        if self.algorithm == "value":
            for grad in grads:
                grad.clamp_(-self.value, self.value)
            return
        # The norm of each tensor's rows, then the norm of those: clip_grad_norm_'s total, one per member.
        norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads], dim=1)
        total = torch.linalg.vector_norm(norms, dim=1)
        factor = torch.clamp(self.value / (total + EPS), max=1.0)
        for grad in grads:
            grad.mul_(factor.view(-1, *[1] * (grad.dim() - 1)).to(grad.dtype))
