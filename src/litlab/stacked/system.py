"""The members' systems trained as one: a stacked forward, one loss per member, metrics per member.

The objective is the sum of the members' losses, so the gradient that reaches member m's slice of a
stacked weight is the gradient of member m's own loss: members never mix. After `backward`, each
member's parameters (views of the stacked tensors, see network.py) get their slice of the stacked
gradients, and the member's own optimizer (built by its system's `configure_optimizers`, as in its single
run: weight decay on weights only) updates them in place.
"""

import torch
import torch.nn.functional as F

from litlab.stacked.network import StackedNetwork
from litlab.systems.cross_entropy import log_softmax as scratch_log_softmax


class StackedSystem:
    def __init__(self, systems: list, generators: list[torch.Generator], task: str):
        self.systems, self.task = systems, task
        self.network = StackedNetwork([s.network for s in systems], generators)
        self.scratch_loss = getattr(systems[0].network, "impl", "torch") == "scratch"
        if any(getattr(s, "target_scaling", None) for s in systems):  # grouping.py leaves data=csv to single runs
            raise ValueError("stacked regression takes targets in their own units (no target scaling)")
        device = next(self.network.parameters()).device
        self.l1 = torch.tensor([s.l1 for s in systems], device=device)
        self.l2_in_loss = torch.tensor([s.l2 if s.l2_impl == "scratch" else 0.0 for s in systems], device=device)
        self.penalized = bool((self.l1 != 0).any() or (self.l2_in_loss != 0).any())
        # Pairs (stacked parameter, the member views of it), in each member network's parameter order.
        stacked = [p for p in self.network.parameters()]
        members = [list(s.network.parameters()) for s in systems]
        self.views = [(p, [params[i] for params in members]) for i, p in enumerate(stacked)]
        self.weights = [p for p in stacked if p.ndim > 2]  # (N, out, in): regularization acts on these

    # -- losses ------------------------------------------------------------------------------------
    def losses(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Each member's mean loss over its batch, shape (N,); the same loss its single run computes."""
        if self.task == "regression":
            return F.mse_loss(output, target.to(output.dtype), reduction="none").mean(1)
        if self.scratch_loss:
            return -scratch_log_softmax(output).gather(-1, target.long().unsqueeze(-1)).squeeze(-1).mean(1)
        n, b = target.shape
        return F.cross_entropy(output.reshape(n * b, -1), target.reshape(n * b), reduction="none").view(n, b).mean(1)

    def penalty(self) -> torch.Tensor | float:
        """Each member's l1 * sum |w| + (l2 / 2) * sum w^2 (the latter for regularization.impl=scratch), (N,)."""
        if not self.penalized:
            return 0.0
        l1 = sum(w.abs().sum(dim=(1, 2)) for w in self.weights)
        l2 = sum(w.pow(2).sum(dim=(1, 2)) for w in self.weights)
        return self.l1 * l1 + self.l2_in_loss / 2 * l2

    def sums(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per member, the batch's sums the scores are computed from, each (N,): what the single run's
        torchmetrics accumulate (MulticlassAccuracy; MeanSquaredError and R2Score), in 32 bits as theirs are
        (a bf16-mixed output too)."""
        if self.task == "regression":
            output, y = output.float(), target.float()
            return {"sse": (output - y).pow(2).sum(1), "sum_y": y.sum(1), "sum_y2": y.pow(2).sum(1)}
        return {"correct": (output.argmax(-1) == target).sum(1).float()}

    @property
    def score_names(self) -> list[str]:
        return ["mse", "rmse", "r2"] if self.task == "regression" else ["acc"]

    def scores(self, sums: dict[str, torch.Tensor], count: int) -> dict[str, torch.Tensor]:
        """The epoch's scores per member from its summed `sums` over `count` samples, as the single run names them."""
        if self.task == "regression":
            mse = sums["sse"] / count
            total = sums["sum_y2"] - sums["sum_y"] * (sums["sum_y"] / count)  # R2Score's total sum of squares
            return {"mse": mse, "rmse": mse.sqrt(), "r2": 1 - sums["sse"] / total}
        return {"acc": sums["correct"] / count}

    # -- one optimizer step per block of members ----------------------------------------------------
    def step(self, objective: torch.Tensor, blocks: list, clipping=None, backward=torch.Tensor.backward) -> None:
        """Backward through the summed objective (`backward`: the loop's `fabric.backward`, which applies its
        precision plugin), each member's gradients clipped (`clipping`, clipping.py), then each block's optimizer
        steps on its rows of the gradients (`blocks`: Blocks, and FusedSGD runs of them, optimizers.py)."""
        for p, _ in self.views:
            p.grad = None
        backward(objective)
        if clipping is not None:
            clipping([p for p, _ in self.views])
        for block in blocks:
            block.step()
