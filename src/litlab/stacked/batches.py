"""Each member's batches, gathered for all members by one index operation per step.

Members with the same seed and data config share a data module (the same splits, the same order).
Every other member's single run draws its own order from its own seed: the samplers (one per data
module, litlab/data/batching.py) draw each epoch's order once, and a step gathers every data module's
batch from the splits stacked along a data-module dimension, then picks each member's (by `source`).
"""

import torch

from litlab.data.batching import IndexBatchSampler


class StackedBatches:
    def __init__(self, datamodules: list, source: list[int], members: int, device: torch.device):
        self.datamodules, self.members, self.device = datamodules, members, device
        self.source = torch.tensor(source, device=device)
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def _split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The split of every data module, (D, n, ...) on the device (one data module: its own tensors)."""
        if split not in self.splits:
            if len(self.datamodules) == 1:
                x, y = self.datamodules[0].on_device(split, self.device)
                self.splits[split] = (x.unsqueeze(0), y.unsqueeze(0))
            else:
                parts = [d.splits[split] for d in self.datamodules]
                self.splits[split] = (
                    torch.stack([x for x, _ in parts]).to(self.device),
                    torch.stack([y for _, y in parts]).to(self.device),
                )
        return self.splits[split]

    def count(self, split: str, shuffle: bool) -> int:
        data = self.datamodules[0]
        return len(IndexBatchSampler(len(data.splits[split][0]), data.batch_size, shuffle, data.drop_last and shuffle))

    def __call__(self, split: str, shuffle: bool, epoch: int):
        """(x, y) of shape (N, B, ...), (N, B) per step: each member's batch from its own split, in its own order."""
        x, y = self._split(split)
        orders = []
        for d in self.datamodules:  # once per epoch and data module: the sampler's order of this epoch
            sampler = IndexBatchSampler(
                x.shape[1], d.batch_size, shuffle, d.drop_last and shuffle, d.seed, device=self.device
            )
            sampler.set_epoch(epoch)
            orders.append(list(sampler))
        sizes = [len(i) for i in orders[0]]
        order = torch.stack([torch.cat(batches) for batches in orders])  # (D, samples this epoch)
        if len(self.datamodules) == 1:
            start = 0
            for size in sizes:
                indices = order[0, start : start + size]
                start += size
                xb, yb = x[0].index_select(0, indices), y[0].index_select(0, indices)
                yield xb.expand(self.members, *xb.shape), yb.expand(self.members, *yb.shape)
            return
        rows = torch.arange(len(self.datamodules), device=self.device).unsqueeze(1)
        start = 0
        for size in sizes:
            indices = order[:, start : start + size]
            start += size
            yield x[rows, indices][self.source], y[rows, indices][self.source]
