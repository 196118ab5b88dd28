"""d2l's polynomial regression data (4.4, model selection): under- and overfitting on one data set.

x ~ N(0, 1); the features are x^i / i! for i < 20 (the factorial keeps large powers from exploding);
y = 5 + 1.2 x - 3.4 x^2 / 2! + 5.6 x^3 / 3! + noise with std 0.1. A model sees the first
`num_features` features: 4 fits the true function, 2 underfits, 20 can overfit.
"""

import math

import torch

from litlab.data.base import InMemoryDataModule

TRUE_W = [5.0, 1.2, -3.4, 5.6]  # the remaining weights are zero


class PolynomialDataModule(InMemoryDataModule):
    task = "regression"

    def __init__(
        self,
        num_features: int = 4,
        max_degree: int = 20,
        noise: float = 0.1,
        sizes: list[int] = (100, 100, 100),
        normalize: str = "none",
        **kwargs,
    ):
        super().__init__(normalize=normalize, **kwargs)
        if not 1 <= num_features <= max_degree:
            raise ValueError(f"data.num_features={num_features}: use 1 to data.max_degree={max_degree}")
        self.num_features_used, self.max_degree, self.noise = num_features, max_degree, noise
        self.sizes = list(sizes)  # train / val / test; d2l has 100 train and 100 test, val is a third draw
        true_w = (TRUE_W + [0.0] * max_degree)[:max_degree]
        self.true_params = {"w": true_w[:num_features], "b": 0.0}

    def load_splits(self):
        g = torch.Generator().manual_seed(self.seed)
        n = sum(self.sizes)
        x = torch.randn(n, 1, generator=g)
        powers = torch.arange(self.max_degree, dtype=torch.float32)
        factorials = torch.tensor([math.factorial(i) for i in range(self.max_degree)], dtype=torch.float32)
        features = x.pow(powers) / factorials  # (n, max_degree)
        w = torch.tensor((TRUE_W + [0.0] * self.max_degree)[: self.max_degree])
        y = features @ w + self.noise * torch.randn(n, generator=g)
        features = features[:, : self.num_features_used]
        parts = torch.split(torch.arange(n), self.sizes)  # the draws are i.i.d.: no shuffle needed
        return {name: (features[idx], y[idx]) for name, idx in zip(("train", "val", "test"), parts)}
