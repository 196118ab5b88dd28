"""Batches served straight from in-memory tensors: one index operation per batch.

A `DataLoader` over a `TensorDataset` calls `__getitem__` once per sample and then collates the
samples back into a batch; for small models that costs more than the step itself. Here the sampler
yields whole index tensors (a fresh permutation each epoch) and the dataset answers each with one
`index_select`. It is still a `DataLoader`, so Lightning treats it like any other.

On a GPU the split tensors are moved there once (`device`), and the permutation is moved once per
epoch, so every batch is gathered on the device: no host-to-device copy and no sync per step.
"""

import math

import torch
from torch.utils.data import DataLoader, Dataset


class TensorBatches(Dataset):
    """`dataset[idx]` with `idx` an index tensor returns the whole batch `(x[idx], y[idx])`."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        assert len(x) == len(y)
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx: torch.Tensor):
        # index_select copies whole rows; `x[idx]` (advanced indexing) is about 4x slower on a CPU.
        return self.x.index_select(0, idx), self.y.index_select(0, idx)


class IndexBatchSampler:
    """Yields index tensors of `batch_size`, covering this process's shard once per epoch.

    The permutation depends only on (seed, epoch), so every rank draws the same one and takes every
    `world_size`-th index from it: shards are disjoint and together hold each sample once (the
    permutation is padded with its own head, as `DistributedSampler` does, when the count does not
    divide evenly). Lightning calls `set_epoch` before each epoch, also after a resume.
    `served` counts the batches handed out this epoch; a run resumed from a checkpoint taken mid-epoch
    skips that many (`BatchLoader.load_state_dict`), so it sees exactly the batches it had not seen.
    The permutation is drawn on the CPU (the same on every device) and then moved to `device`.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | str = "cpu",
    ):
        self.num_samples, self.batch_size = num_samples, batch_size
        self.shuffle, self.drop_last, self.seed = shuffle, drop_last, seed
        self.rank, self.world_size, self.device = rank, world_size, torch.device(device)
        self.epoch = 0
        self.served, self.skip = 0, 0
        # Evaluation splits (shuffle=False) are not padded, so a metric over all ranks sees each sample once.
        pad = shuffle and world_size > 1
        self.shard_size = math.ceil(num_samples / world_size) if pad else len(range(rank, num_samples, world_size))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _shard(self) -> torch.Tensor:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.num_samples, generator=g)
            total = self.shard_size * self.world_size
            if total > self.num_samples:
                order = torch.cat([order, order[: total - self.num_samples]])
        else:
            order = torch.arange(self.num_samples)
        return order[self.rank :: self.world_size].to(self.device)

    def __iter__(self):
        shard = self._shard()
        first, self.skip = self.skip, 0
        self.served = first
        for start in range(first * self.batch_size, len(self) * self.batch_size, self.batch_size):
            self.served += 1
            yield shard[start : start + self.batch_size]

    def __len__(self) -> int:
        if self.drop_last:
            return self.shard_size // self.batch_size
        return math.ceil(self.shard_size / self.batch_size)


def _identity(batch):
    return batch


class BatchLoader(DataLoader):
    """A `DataLoader` over index batches whose position in the epoch is saved in Lightning's checkpoints.

    Lightning stores the `state_dict` of a training loader that has one, and gives it back through
    `load_state_dict` when it resumes a checkpoint taken in the middle of an epoch.
    """

    def state_dict(self) -> dict:
        return {"epoch": self.sampler.epoch, "served": self.sampler.served}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.set_epoch(state["epoch"])
        self.sampler.skip = state["served"] if state["served"] < len(self.sampler) else 0


def batch_loader(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    shuffle: bool,
    drop_last: bool = False,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader:
    """A loader of index batches of `x`, `y`, gathered on the device the tensors live on."""
    sampler = IndexBatchSampler(len(x), batch_size, shuffle, drop_last, seed, rank, world_size, device=x.device)
    # batch_size=None: the sampler's items already are batches, so no collation happens.
    # Its own generator: otherwise each `iter(loader)` draws a seed from torch's global generator, and a
    # resumed run (which creates its iterators at other moments) would get other dropout masks.
    return BatchLoader(
        TensorBatches(x, y),
        sampler=sampler,
        batch_size=None,
        collate_fn=_identity,
        generator=torch.Generator().manual_seed(seed),
    )
