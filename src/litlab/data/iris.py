"""Iris: 150 flowers, 4 measurements, 3 species (scikit-learn ships it, no download)."""

import importlib.util
from pathlib import Path

import numpy as np
import torch

from litlab.data.base import InMemoryDataModule, stratified_split


class IrisDataModule(InMemoryDataModule):
    class_names = ["setosa", "versicolor", "virginica"]

    def __init__(self, sizes: list[int] = (120, 15, 15), **kwargs):
        super().__init__(**kwargs)
        self.sizes = list(sizes)  # train / val / test, stratified

    def load_splits(self):
        x, y = load_iris()
        parts = stratified_split(y, self.sizes, self.seed)
        return {
            name: (torch.as_tensor(x[idx], dtype=torch.float32), torch.as_tensor(y[idx]))
            for name, idx in zip(("train", "val", "test"), parts)
        }


def load_iris() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's `load_iris(return_X_y=True)`: the same numbers, read from the same file.

    Importing scikit-learn takes half a second (it imports pandas); its table is read here without it.
    The file is where scikit-learn keeps it (sklearn/datasets/data/iris.csv: a line of counts and class
    names, then four measurements and a class index a row); if it ever moves, scikit-learn loads it.
    """
    sklearn = importlib.util.find_spec("sklearn")  # finds the package without importing it
    table = Path(sklearn.submodule_search_locations[0]) / "datasets" / "data" / "iris.csv" if sklearn else None
    if table is None or not table.is_file():
        from sklearn.datasets import load_iris as load

        return load(return_X_y=True)
    rows = np.loadtxt(table, delimiter=",", skiprows=1, dtype=np.float64)
    return rows[:, :4], rows[:, 4].astype(int)
