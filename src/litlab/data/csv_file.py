"""Your own table: a CSV file with one target column; every other column (or `data.features`) is a feature.

Classification (the default) maps the target's distinct values, sorted, to class indices and splits
stratified by class; regression predicts the target as a number. The test rows are drawn first and
stay the same whatever the validation rows are: `data.split` fractions, or with `data.folds=K` the
validation rows are fold `data.fold` of K over the remaining rows (d2l 5.7's k-fold cross-validation).

Features and regression targets are preprocessed as in d2l 5.7 (litlab/data/preprocessing.py), fitted on
the training rows only; the fitted preprocessing is this module's `state_dict`, saved in checkpoints.
A first column without a name (pandas' `to_csv` index) is the rows' index; `data.id_column` names another.
"""

from pathlib import Path

import torch

from litlab.data.base import InMemoryDataModule
from litlab.data.preprocessing import TablePreprocessing
from litlab.errors import LitlabError

TASKS = ("classification", "regression")


class CSVDataModule(InMemoryDataModule):
    def __init__(
        self,
        path: str | None = None,
        target: str | None = None,
        features: list[str] | None = None,
        categorical: list[str] | None = None,
        id_column: str | None = None,
        task: str = "classification",
        log_target: bool = False,
        split: list[float] = (0.8, 0.1, 0.1),
        folds: int = 1,
        fold: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.path, self.target, self.features = path, target, list(features) if features else None
        self.categorical = list(categorical or [])  # numeric columns to one-hot as well (codes, years)
        self.id_column = id_column  # names the rows: not a feature; predict.py copies it into predictions.csv
        self.task = task  # the class default is classification; a CSV says per file which it is
        self.log_target = log_target  # regression: train on log(1 + y), as d2l 5.7 does for house prices
        self.split = list(split)  # train / val / test fractions of the rows
        self.folds, self.fold = folds, fold  # folds > 1: validate on fold `fold` of the non-test rows
        self.preprocessing: TablePreprocessing | None = None  # fitted in setup, or loaded from a checkpoint
        self.frames: dict = {}  # split -> the rows as read (a DataFrame), kept to transform again on load
        self.file_columns: list[str] = []  # every column of the training file: not "extra" in other files

    # -- Lightning's checkpoint hooks: the fitted preprocessing travels with the model ------------------
    def state_dict(self) -> dict:
        if not self.preprocessing:
            return {}
        return {"preprocessing": self.preprocessing.state_dict(), "file_columns": list(self.file_columns)}

    def load_state_dict(self, state: dict) -> None:
        if "preprocessing" not in state:
            return
        self.preprocessing = TablePreprocessing.from_state_dict(state["preprocessing"])
        self.file_columns = list(state["file_columns"])
        self.class_names = self.preprocessing.class_names
        if self.frames:  # loaded already (Lightning restores a resumed run after setup): transform again
            self.splits = {name: self._tensors(frame, str(self.path)) for name, frame in self.frames.items()}
            self._on_device.clear()

    @property
    def target_scaling(self) -> dict | None:
        return self.preprocessing.target_scaling if self.preprocessing else None

    # -- loading --------------------------------------------------------------------------------------
    def load_splits(self):
        table = self._read(self.path, "data.path")
        if self.preprocessing is not None:  # a checkpoint's (init_from, resume, eval.py): its columns, checked
            self.preprocessing.check_columns(table, self.target, str(self.path), ignore=self._ignored())
            self.features = list(self.preprocessing.columns)
        else:
            self.file_columns = [str(c) for c in table.columns]
        self.features = self.features or [c for c in table.columns if c not in (self.target, self.id_column)]
        named = [self.target, *self.features, *self.categorical, *([self.id_column] if self.id_column else [])]
        missing = [c for c in named if c not in table.columns]
        if missing:
            raise LitlabError(
                f"{self.path} has no column {', '.join(map(repr, missing))}; its columns are "
                f"{', '.join(table.columns)} (set data.target, data.features, data.categorical, data.id_column)"
            )
        self._check_target(table[self.target])
        self.frames = {name: table.iloc[idx] for name, idx in zip(("train", "val", "test"), self._parts(table))}
        if self.preprocessing is None:
            train = self.frames["train"]
            empty = [c for c in self.features if train[c].isna().all()]
            if empty:
                raise LitlabError(
                    f"{self.path}: column(s) {', '.join(empty)} have no values in the {len(train)} "
                    "training rows; leave them out with data.features=[...]"
                )
            self.preprocessing = TablePreprocessing.fit(
                train[self.features],
                train[self.target],
                self.task,
                self.categorical,
                self.normalize,
                self.log_target,
                classes=table[self.target],
            )
        self.class_names = self.preprocessing.class_names
        return {name: self._tensors(frame, str(self.path)) for name, frame in self.frames.items()}

    def _stats(self, x):
        return torch.tensor(0.0), torch.tensor(1.0)  # the preprocessing has scaled the columns already

    def _tensors(self, frame, source: str):
        return self.preprocessing.features(frame, source), self.preprocessing.targets(frame[self.target], source)

    def _check_target(self, target) -> None:
        import pandas as pd

        if target.isna().any():
            rows = [str(i) for i in target.index[target.isna()][:5]]
            raise LitlabError(
                f"{self.path}: the target column {self.target!r} has {int(target.isna().sum())} empty "
                f"cell(s) (rows {', '.join(rows)}); fill or drop those rows"
            )
        if self.task == "classification" and target.nunique() < 2:
            raise LitlabError(
                f"{self.path}: the target column {self.target!r} has one class only "
                f"({target.iloc[0]}); classification needs two or more (or data.task=regression)"
            )
        if self.task == "regression" and not pd.api.types.is_numeric_dtype(target):
            raise LitlabError(
                f"{self.path}: target column {self.target!r} is not numeric; use data.task=classification"
            )
        if self.task == "regression" and self.log_target and (target <= -1).any():
            raise LitlabError(
                f"data.log_target=true needs targets > -1 (log(1 + y)); {self.target!r} has {target.min()}"
            )

    # -- new rows, for predict.py -------------------------------------------------------------------------
    def add_rows(self, path: str, name: str = "predict") -> bool:
        """Read another file of rows with the training columns as split `name`; True when it has the target."""
        frame = self._read(path, "data.path")
        self.preprocessing.check_columns(frame, self.target, path, ignore=self._ignored())
        labelled = self.target in frame.columns
        if labelled:
            self._check_target_values(frame[self.target], path)
        x = self.preprocessing.features(frame, path)
        y = self.preprocessing.targets(frame[self.target], path) if labelled else torch.zeros(len(frame))
        self.frames[name], self.splits[name] = frame, (x, y)
        return labelled

    def _check_target_values(self, target, path: str) -> None:
        if target.isna().any():
            raise LitlabError(
                f"{path}: the target column {self.target!r} has empty cells; fill them, or drop the "
                "column to predict without a score"
            )

    def row_ids(self, split: str) -> tuple[str, list]:
        """The name and values of the column that identifies the rows of a split: the id column or the index."""
        frame = self.frames[split]
        if self.id_column and self.id_column in frame.columns:
            return self.id_column, frame[self.id_column].tolist()
        return frame.index.name or "index", frame.index.tolist()

    # -- helpers ----------------------------------------------------------------------------------------
    def _ignored(self) -> tuple:
        """Columns of the training file that are not features (left out, the id): allowed in other files."""
        return (*self.file_columns, *([self.id_column] if self.id_column else []))

    def _read(self, path: str | None, key: str):
        import pandas as pd

        if self.task not in TASKS:
            raise LitlabError(f"data.task={self.task!r}: use one of {', '.join(TASKS)}")
        if not path:
            raise LitlabError("data=csv needs a file: data.path=my_table.csv data.target=COLUMN")
        from hydra.utils import to_absolute_path

        file = Path(to_absolute_path(path))
        if not file.is_file():
            raise LitlabError(f"{key}={path}: no such file ({file})")
        if not self.target:
            raise LitlabError("data=csv needs the target column: data.target=COLUMN")
        try:
            header = pd.read_csv(file, nrows=0).columns
            # A first column without a name is the index pandas wrote (`frame.to_csv(path)`): not a feature.
            index = 0 if len(header) and str(header[0]).startswith("Unnamed: 0") else None
            table = pd.read_csv(file, index_col=index)
        except pd.errors.EmptyDataError:
            raise LitlabError(f"{key}={path}: the file is empty (no header, no rows)") from None
        except Exception as e:
            raise LitlabError(f"{key}={path}: not a readable CSV file ({e})") from None
        if table.empty:
            raise LitlabError(f"{key}={path}: the file has a header ({', '.join(map(str, table.columns))}) but no rows")
        if index is not None:
            table.index.name = None
        return table

    def _parts(self, table) -> list:
        """Row positions of train, val and test: test first (fixed), then the validation rows or fold."""
        import numpy as np
        from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

        n = len(table)
        if len(self.split) != 3 or any(f <= 0 for f in self.split) or sum(self.split) > 1 + 1e-9:
            raise LitlabError(f"data.split={self.split}: three positive fractions (train, val, test) summing to 1")
        if not 0 <= self.fold < self.folds:
            raise LitlabError(
                f"data.fold={self.fold} is not allowed: with data.folds={self.folds} it is one of 0..{self.folds - 1}"
                if self.folds > 1
                else f"data.fold={self.fold} needs k-fold: data.folds=K with K > {self.fold}"
            )
        val, test = (max(1, round(f * n)) for f in self.split[1:])
        if n - test < max(2, self.folds) or (self.folds == 1 and n - val - test < 2):
            raise LitlabError(
                f"{self.path} has {n} rows: too few for a train / val / test split of {self.split}"
                + (f" and {self.folds} folds" if self.folds > 1 else "")
            )
        classes = table[self.target].astype(str).to_numpy() if self.task == "classification" else None
        rows = np.arange(n)
        try:
            rest, test_rows = train_test_split(rows, test_size=test, random_state=self.seed, stratify=classes)
            rest_classes = classes[rest] if classes is not None else None
            if self.folds > 1:
                kfold = (StratifiedKFold if classes is not None else KFold)(
                    self.folds, shuffle=True, random_state=self.seed
                )
                train_pos, val_pos = list(kfold.split(rest, rest_classes))[self.fold]
                return [rest[train_pos], rest[val_pos], test_rows]
            train_rows, val_rows = train_test_split(
                rest, test_size=val, random_state=self.seed + 1, stratify=rest_classes
            )
        except ValueError as e:  # e.g. a class with a single row cannot be stratified
            raise LitlabError(
                f"{self.path}: cannot split {n} rows into train / val / test of {self.split} ({e})"
            ) from None
        return [train_rows, val_rows, test_rows]
