"""Per-step metric inputs gathered in a list and handed to torchmetrics in chunks.

Each torchmetrics `update()` call costs tens of microseconds of Python (state bookkeeping through
`nn.Module.__setattr__`), about as much as a small model's whole step on a GPU. Appending the step's
detached tensors to a list costs almost nothing and never waits for the device; every `every` steps
(and before an epoch's `compute()`) they are concatenated into one `update()`. The metric states end
up the same as with one update per step: counts are exact and the mean loss is the sample-weighted mean.
"""

import torch
from torchmetrics import MeanMetric, MetricCollection


class StepBuffer:
    def __init__(self, loss_mean: MeanMetric, scores: MetricCollection, every: int = 64):
        self.loss_mean, self.scores, self.every = loss_mean, scores, every
        self.losses: list[torch.Tensor] = []
        self.sizes: list[int] = []
        self.outputs: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []

    def add(self, loss: torch.Tensor, output: torch.Tensor, target: torch.Tensor) -> None:
        """The step's mean loss, and the outputs and targets the scores are computed from (all detached)."""
        self.losses.append(loss)
        self.sizes.append(len(target))
        self.outputs.append(output)
        self.targets.append(target)
        if len(self.losses) >= self.every:
            self.flush()

    def flush(self) -> None:
        if not self.losses:
            return
        self.loss_mean.update(torch.stack(self.losses), weight=torch.tensor(self.sizes, device=self.losses[0].device))
        self.scores.update(torch.cat(self.outputs), torch.cat(self.targets))
        self.clear()

    def clear(self) -> None:
        self.losses, self.sizes, self.outputs, self.targets = [], [], [], []
