"""The base of every litlab data module: splits held in memory as normalised tensors."""

from typing import Literal

import lightning as L
import torch

from litlab.data.batching import batch_loader
from litlab.errors import LitlabError

Split = tuple[torch.Tensor, torch.Tensor]


class InMemoryDataModule(L.LightningDataModule):
    """Loads its splits once, normalises features with training-split statistics, serves index batches.

    Subclasses implement `load_splits()` returning raw `{"train": (x, y), "val": ..., "test": ...}`
    and set `task`. Images are normalised with one mean and std over all pixels, tables per column.
    """

    task: Literal["classification", "regression"] = "classification"
    per_feature_stats = True  # False for images: one mean/std over all pixels
    class_names: list[str] | None = None
    true_params: dict | None = None  # synthetic data: the w and b that generated it
    target_scaling: dict | None = None  # regression targets trained on as (y - shift) / scale (data=csv)
    predict_split = "test"  # the split `Trainer.predict` is served (predict.py sets it)

    def __init__(
        self,
        batch_size: int = 256,
        seed: int = 42,
        normalize: str = "standard",
        drop_last: bool = False,
        data_dir: str = "data",
        baseline: bool = False,
    ):
        super().__init__()
        self.batch_size, self.seed, self.normalize = batch_size, seed, normalize
        self.drop_last, self.data_dir = drop_last, data_dir
        self.baseline = baseline  # fit the linear baseline beside the run (litlab/baseline.py); conf/data/ sets it
        self.splits: dict[str, Split] = {}
        self._on_device: dict[str, Split] = {}  # the splits moved to the Trainer's device, once

    # -- what a subclass provides -------------------------------------------------------------
    def load_splits(self) -> dict[str, Split]:
        raise NotImplementedError

    # -- Lightning hooks ----------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.splits:  # already loaded (the run builder calls setup before the Trainer does)
            return
        raw = self.load_splits()
        x_train = raw["train"][0].float()
        shift, scale = self._stats(x_train)
        self.splits = {name: ((x.float() - shift) / scale, y) for name, (x, y) in raw.items()}

    def train_dataloader(self):
        return self._loader("train", shuffle=True)

    def val_dataloader(self):
        return self._loader("val", shuffle=False)

    def test_dataloader(self):
        return self._loader("test", shuffle=False)

    def predict_dataloader(self):
        return self._loader(self.predict_split, shuffle=False)

    def row_ids(self, split: str) -> tuple[str, list]:
        """The name and values of the column that identifies a split's rows in predictions.csv: their order."""
        return "index", list(range(len(self.splits[split][1])))

    def on_device(self, split: str, device: torch.device | str) -> Split:
        """The split's tensors on `device`, copied there on the first call only: batches are then
        gathered where the model runs, and Lightning's per-batch move to the device is a no-op."""
        device = torch.device(device)
        cached = self._on_device.get(split)
        if cached is None or cached[0].device != device:  # `.to` returns the tensor itself when it is there
            x, y = self.splits[split]
            cached = self._on_device[split] = (x.to(device), y.to(device))
        return cached

    # -- shapes the model is built from ---------------------------------------------------------
    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.splits["train"][0].shape[1:])

    @property
    def num_features(self) -> int:
        return int(torch.tensor(self.input_shape).prod())

    @property
    def num_outputs(self) -> int:
        if self.task == "regression":
            return 1
        return len(self.class_names) if self.class_names else int(self.splits["train"][1].max()) + 1

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 3

    # -- helpers ------------------------------------------------------------------------------
    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dims = 0 if self.per_feature_stats else tuple(range(x.ndim))
        if self.normalize == "standard":
            shift, scale = x.mean(dim=dims), x.std(dim=dims)
        elif self.normalize == "minmax":
            shift = x.amin(dim=dims)
            scale = x.amax(dim=dims) - shift
        elif self.normalize == "none":
            return torch.tensor(0.0), torch.tensor(1.0)
        else:
            raise ValueError(f"data.normalize={self.normalize!r}: use standard, minmax or none")
        # Constant features (a blank border pixel) are left as they are, not divided by zero.
        return shift, torch.where(scale > 0, scale, torch.ones_like(scale))

    def _loader(self, split: str, shuffle: bool):
        rank, world, device = 0, 1, torch.device("cpu")
        if self.trainer is not None:
            rank, world = self.trainer.global_rank, self.trainer.world_size
            device = self.trainer.strategy.root_device
        x, y = self.on_device(split, device)
        # data.batch_size is the global batch: under DDP each process takes its share of it.
        per_process = max(1, self.batch_size // world)
        return batch_loader(
            x,
            y,
            per_process,
            shuffle=shuffle,
            drop_last=self.drop_last and shuffle,
            seed=self.seed,
            rank=rank,
            world_size=world,
        )


def _check_sizes(sizes: list[int], n: int) -> None:
    if sum(sizes) > n or min(sizes) < 1:
        raise LitlabError(f"data.sizes={list(sizes)} needs {sum(sizes)} samples but the data set has {n}")


def split_indices(n: int, sizes: list[int], seed: int) -> list[torch.Tensor]:
    """A seeded random partition of range(n) into parts of the given sizes."""
    _check_sizes(sizes, n)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return list(torch.split(perm[: sum(sizes)], sizes))


def stratified_split(y, sizes: list[int], seed: int) -> list:
    """Index arrays of the given sizes, each with the class proportions of `y` (see stratified.py)."""
    import numpy as np

    from litlab.data.stratified import stratified_take

    _check_sizes(sizes, len(y))
    y = np.asarray(y)
    rest, parts = np.arange(len(y)), []
    for i, size in enumerate(sizes):
        if size == len(rest):  # the last part takes what is left
            parts.append(rest)
            break
        take, rest = stratified_take(rest, y[rest], size, seed + i)
        parts.append(take)
    return parts
