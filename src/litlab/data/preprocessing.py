"""d2l 5.7's preprocessing of a table, fitted on the training rows only and kept with the model.

Numeric columns: missing cells set to the training mean, then standardised (or min-max scaled, or left
as they are: `data.normalize`). Text columns, and those listed in `data.categorical`: one-hot, with a
column for "missing" when the training rows have empty cells there; a value never seen in training
(a new category, or a gap where training had none) becomes all zeros, with a warning naming it.
scikit-learn's `ColumnTransformer`, `SimpleImputer`, `StandardScaler` and `OneHotEncoder` do the work.

Regression targets are standardised too (after log(1 + y) with `data.log_target`), so the network
learns numbers of order 1; `target_scaling` is how the system turns its outputs back into the
target's own units.

`state_dict()` holds everything (the fitted transformer as scikit-learn's pickle, the columns and their
kinds, the class names, the target's scaling); the CSV data module returns it from its own
`state_dict`, which Lightning stores in every checkpoint, so `eval.py`, `predict.py`, `init_from` and
`resume=` transform rows exactly as the run that fitted it did.
"""

import logging
import pickle
import warnings

import numpy as np
import torch

from litlab.errors import LitlabError

log = logging.getLogger("litlab")

MISSING = "(missing)"  # the category of an empty cell in a text column
SCALERS = {"standard": "StandardScaler", "minmax": "MinMaxScaler", "none": None}


class TablePreprocessing:
    def __init__(
        self,
        columns: dict[str, str],
        transformer,
        task: str,
        class_names: list[str] | None = None,
        target_scaling: dict | None = None,
    ):
        self.columns = columns  # feature column -> "number" | "category", in training order
        self.transformer = transformer  # the fitted ColumnTransformer
        self.task = task
        self.class_names = class_names  # classification: the target's values, sorted; index = class
        self.target_scaling = target_scaling  # regression: {"shift", "scale", "log"}; y = shift + scale * z

    # -- fitting ----------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        features,
        target,
        task: str,
        categorical: list[str] = (),
        normalize: str = "standard",
        log_target: bool = False,
        classes=None,
    ) -> "TablePreprocessing":
        """Fit on the training rows: `features` a DataFrame, `target` a Series. `classes`: every value the
        target takes in the whole table (a class may be missing from the training rows), else the target's."""
        import pandas as pd
        from sklearn import preprocessing
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline

        columns = {
            c: ("category" if c in categorical or not _is_number(features[c]) else "number") for c in features.columns
        }
        numbers = [c for c, kind in columns.items() if kind == "number"]
        categories = [c for c, kind in columns.items() if kind == "category"]
        scaler = SCALERS[normalize]
        numeric = make_pipeline(SimpleImputer(strategy="mean"), *([getattr(preprocessing, scaler)()] if scaler else []))
        text = make_pipeline(
            SimpleImputer(strategy="constant", fill_value=MISSING),
            preprocessing.OneHotEncoder(handle_unknown="ignore", sparse_output=False),
        )
        transformer = ColumnTransformer(
            [("number", numeric, numbers), ("category", text, categories)], sparse_threshold=0.0
        )
        transformer.fit(_typed(features, columns))
        class_names = scaling = None
        if task == "classification":
            values = target if classes is None else classes
            class_names = [str(v) for v in pd.unique(values.sort_values())]
        else:
            y = np.log1p(target.to_numpy(dtype="float64")) if log_target else target.to_numpy(dtype="float64")
            std = float(y.std())
            scaling = {"shift": float(y.mean()), "scale": std if std > 0 else 1.0, "log": bool(log_target)}
        fitted = cls(columns, transformer, task, class_names, scaling)
        log.info("preprocessing (fitted on %d training rows): %s", len(features), fitted.summary())
        return fitted

    def summary(self) -> str:
        numbers = sum(kind == "number" for kind in self.columns.values())
        parts = [f"{numbers} numeric column(s) mean-imputed and scaled"]
        encoder = self._encoder()
        if encoder is not None:
            sizes = ", ".join(f"{c}: {len(cats)}" for c, cats in zip(self._categories(), encoder.categories_))
            parts.append(f"text column(s) one-hot ({sizes} categories)")
        return "; ".join(parts) + f" -> {self.num_features} features"

    @property
    def num_features(self) -> int:
        return len(self.transformer.get_feature_names_out())

    # -- applying -----------------------------------------------------------------------------------
    def features(self, frame, source: str) -> torch.Tensor:
        """The feature tensor of `frame`'s rows; `source` (the file) names them in warnings and errors."""
        frame = _typed(frame[list(self.columns)], self.columns)
        self._warn_unseen(frame, source)
        with warnings.catch_warnings():  # told above, by name, instead of scikit-learn's column numbers
            warnings.filterwarnings("ignore", "Found unknown categories")
            return torch.as_tensor(self.transformer.transform(frame), dtype=torch.float32)

    def targets(self, values, source: str) -> torch.Tensor:
        """Class indices, or standardised (log) numbers, of the target values in `values` (a Series)."""
        if self.task == "classification":
            index = {name: i for i, name in enumerate(self.class_names)}
            labels = values.astype(str)
            unknown = sorted(set(labels) - set(index))
            if unknown:
                raise LitlabError(
                    f"{source}: target value(s) {', '.join(unknown[:5])} are not among the classes the "
                    f"model was trained on ({', '.join(self.class_names)})"
                )
            return torch.tensor(labels.map(index).to_numpy(dtype="int64"))
        y = values.to_numpy(dtype="float64")
        if self.target_scaling["log"]:
            y = np.log1p(y)
        y = (y - self.target_scaling["shift"]) / self.target_scaling["scale"]
        return torch.as_tensor(y, dtype=torch.float32)

    def check_columns(self, frame, target: str, source: str, ignore: tuple[str, ...] = ()) -> None:
        """Refuse, in one line, rows whose columns are not the training columns (missing, extra, other type)."""
        missing = [c for c in self.columns if c not in frame.columns]
        extra = [c for c in frame.columns if c not in self.columns and c != target and c not in ignore]
        retyped = [
            f"{c} ({'text' if self.columns[c] == 'number' else 'numbers'} where training had "
            f"{'numbers' if self.columns[c] == 'number' else 'text'})"
            for c in self.columns
            if c in frame.columns
            and frame[c].notna().any()
            and self.columns[c] == "number"
            and not _is_number(frame[c])
        ]
        problems = (
            ([f"missing column(s) {_names(missing)}"] if missing else [])
            + ([f"extra column(s) {_names(extra)}"] if extra else [])
            + ([f"other type: {_names(retyped)}"] if retyped else [])
        )
        if problems:
            raise LitlabError(
                f"{source} does not have the training columns: {'; '.join(problems)} "
                f"(the model was trained on {_names(list(self.columns))})"
            )

    def _warn_unseen(self, frame, source: str) -> None:
        encoder = self._encoder()
        if encoder is None:
            return
        for column, known in zip(self._categories(), encoder.categories_):
            seen = set(frame[column].fillna(MISSING))
            unseen = sorted(map(str, seen - set(known)))
            if unseen:
                log.warning(
                    "%s: column %s has value(s) never seen in training (%s): their one-hot columns are all zeros",
                    source,
                    column,
                    ", ".join(unseen[:10]) + (", ..." if len(unseen) > 10 else ""),
                )

    def _categories(self) -> list[str]:
        return [c for c, kind in self.columns.items() if kind == "category"]

    def _encoder(self):
        return self.transformer.named_transformers_["category"][-1] if self._categories() else None

    # -- kept in the checkpoint -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        # The transformer is stored as pickled bytes: `torch.load(weights_only=True)`, which Lightning uses
        # to resume, accepts bytes, but not scikit-learn objects.
        return {
            "columns": dict(self.columns),
            "task": self.task,
            "class_names": self.class_names,
            "target_scaling": self.target_scaling,
            "transformer": pickle.dumps(self.transformer),
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> "TablePreprocessing":
        return cls(
            dict(state["columns"]),
            pickle.loads(state["transformer"]),
            state["task"],
            state["class_names"],
            state["target_scaling"],
        )


def _names(names: list[str], most: int = 8) -> str:
    return ", ".join(map(str, names[:most])) + (f", ... ({len(names)} in all)" if len(names) > most else "")


def _is_number(column) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(column)  # booleans too: they become 0 / 1


def _typed(frame, columns: dict[str, str]):
    """Numbers as floats (booleans as 0 / 1), categories as text with NaN kept for the imputer."""
    frame = frame.copy()
    for column, kind in columns.items():
        if kind == "number":
            frame[column] = frame[column].astype("float64")
        else:
            values = frame[column]
            frame[column] = values.astype(object).where(values.isna(), values.map(_as_text))
    return frame


def _as_text(value) -> str:
    # A listed numeric column reads as 2.0 in a file with gaps and as 2 in one without: the same category.
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)
