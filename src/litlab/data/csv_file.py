"""Your own table: a CSV file with one target column and numeric feature columns.

Classification (the default) maps the target's distinct values, sorted, to class indices and splits
stratified by class; regression predicts the target as a number. Features are standardised with the
training split's statistics, like every other table in litlab.
"""

from pathlib import Path

import torch

from litlab.data.base import InMemoryDataModule, split_indices, stratified_split
from litlab.errors import LitlabError

TASKS = ("classification", "regression")


class CSVDataModule(InMemoryDataModule):
    def __init__(self, path: str | None = None, target: str | None = None, features: list[str] | None = None,
                 task: str = "classification", split: list[float] = (0.8, 0.1, 0.1), **kwargs):
        super().__init__(**kwargs)
        self.path, self.target, self.features = path, target, list(features) if features else None
        self.task = task    # the class default is classification; a CSV says per file which it is
        self.split = list(split)   # train / val / test fractions of the rows

    def load_splits(self):
        import pandas as pd

        table = self._read(pd)
        features = self.features or [c for c in table.columns if c != self.target]
        missing = [c for c in [self.target, *features] if c not in table.columns]
        if missing:
            raise LitlabError(f"{self.path} has no column {', '.join(map(repr, missing))}; its columns are "
                              f"{', '.join(table.columns)} (set data.target and data.features)")
        x_table = table[features]
        non_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(x_table[c])]
        if non_numeric:
            raise LitlabError(f"{self.path}: feature column(s) {', '.join(non_numeric)} are not numeric; "
                              "encode them as numbers or leave them out with data.features=[...]")
        incomplete = [c for c in [self.target, *features] if table[c].isna().any()]
        if incomplete:
            raise LitlabError(f"{self.path}: column(s) {', '.join(incomplete)} have empty cells; fill or drop "
                              "those rows first")
        x = torch.as_tensor(x_table.to_numpy(dtype="float32"))
        if self.task == "classification":
            codes, names = pd.factorize(table[self.target], sort=True)
            self.class_names = [str(n) for n in names]
            y = torch.as_tensor(codes)
        else:
            if not pd.api.types.is_numeric_dtype(table[self.target]):
                raise LitlabError(f"{self.path}: target column {self.target!r} is not numeric; use "
                                  "data.task=classification")
            y = torch.as_tensor(table[self.target].to_numpy(dtype="float32"))
        sizes = self._sizes(len(table))
        try:
            parts = (stratified_split(codes, sizes, self.seed) if self.task == "classification"
                     else split_indices(len(table), sizes, self.seed))
        except ValueError as e:   # e.g. a class with a single row cannot be stratified
            raise LitlabError(f"{self.path}: cannot split {len(table)} rows into {sizes} ({e})") from None
        return {name: (x[torch.as_tensor(idx)], y[torch.as_tensor(idx)])
                for name, idx in zip(("train", "val", "test"), parts)}

    def _read(self, pd):
        if self.task not in TASKS:
            raise LitlabError(f"data.task={self.task!r}: use one of {', '.join(TASKS)}")
        if not self.path:
            raise LitlabError("data=csv needs a file: data.path=my_table.csv data.target=COLUMN")
        from hydra.utils import to_absolute_path

        path = Path(to_absolute_path(self.path))
        if not path.is_file():
            raise LitlabError(f"data.path={self.path}: no such file ({path})")
        if not self.target:
            raise LitlabError("data=csv needs the target column: data.target=COLUMN")
        try:
            return pd.read_csv(path)
        except Exception as e:
            raise LitlabError(f"data.path={self.path}: not a readable CSV file ({e})") from None

    def _sizes(self, n: int) -> list[int]:
        if len(self.split) != 3 or any(f <= 0 for f in self.split) or sum(self.split) > 1 + 1e-9:
            raise LitlabError(f"data.split={self.split}: three positive fractions (train, val, test) summing to 1")
        val, test = (max(1, round(f * n)) for f in self.split[1:])
        if n - val - test < 2:
            raise LitlabError(f"{self.path} has {n} rows: too few for a train / val / test split of {self.split}")
        return [n - val - test, val, test]
