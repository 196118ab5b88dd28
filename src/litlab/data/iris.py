"""Iris: 150 flowers, 4 measurements, 3 species (scikit-learn ships it, no download)."""

import torch

from litlab.data.base import InMemoryDataModule, stratified_split


class IrisDataModule(InMemoryDataModule):
    class_names = ["setosa", "versicolor", "virginica"]

    def __init__(self, sizes: list[int] = (120, 15, 15), **kwargs):
        super().__init__(**kwargs)
        self.sizes = list(sizes)  # train / val / test, stratified

    def load_splits(self):
        from sklearn.datasets import load_iris

        x, y = load_iris(return_X_y=True)
        parts = stratified_split(y, self.sizes, self.seed)
        return {
            name: (torch.as_tensor(x[idx], dtype=torch.float32), torch.as_tensor(y[idx]))
            for name, idx in zip(("train", "val", "test"), parts)
        }
