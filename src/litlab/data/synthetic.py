"""Synthetic regression data with known true parameters, as d2l generates it."""

import torch

from litlab.data.base import InMemoryDataModule, split_indices


class SyntheticLinearDataModule(InMemoryDataModule):
    """y = X w + b + noise, X ~ N(0, 1) (d2l 3.2: w = [2, -3.4], b = 4.2, noise std 0.01)."""

    task = "regression"

    def __init__(
        self,
        w: list[float] = (2.0, -3.4),
        b: float = 4.2,
        noise: float = 0.01,
        sizes: list[int] = (800, 100, 100),
        normalize: str = "none",
        **kwargs,
    ):
        super().__init__(normalize=normalize, **kwargs)
        self.w, self.b, self.noise, self.sizes = list(w), b, noise, list(sizes)
        self.true_params = {"w": self.w, "b": self.b}

    def load_splits(self):
        g = torch.Generator().manual_seed(self.seed)
        n, w = sum(self.sizes), torch.tensor(self.w)
        x = torch.randn(n, len(w), generator=g)
        y = x @ w + self.b + self.noise * torch.randn(n, generator=g)
        parts = split_indices(n, self.sizes, self.seed)
        return {name: (x[idx], y[idx]) for name, idx in zip(("train", "val", "test"), parts)}


class HighDimLinearDataModule(SyntheticLinearDataModule):
    """d2l 4.5 (weight decay): d = 200 inputs, every w = 0.01, b = 0.05, noise 0.01, only 20 training samples.

    With more weights than samples plain least squares overfits; weight decay is the cure being studied.
    """

    def __init__(
        self,
        num_inputs: int = 200,
        w_value: float = 0.01,
        b: float = 0.05,
        noise: float = 0.01,
        sizes: list[int] = (20, 100, 100),
        **kwargs,
    ):
        super().__init__(w=[w_value] * num_inputs, b=b, noise=noise, sizes=sizes, **kwargs)
