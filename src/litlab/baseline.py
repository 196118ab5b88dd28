"""The linear baseline beside every run on a table: the model to beat (d2l 5.7 starts a table with one).

scikit-learn's `RidgeCV` (regression) or `LogisticRegressionCV` (classification) is fitted on the
training rows the network trained on, as the data module holds them: the same split, the same
preprocessing, the same targets (a table's regression targets standardised). Its outputs go through
the run's own loss and score metrics, so `baseline/val/<score>` and `baseline/test/<score>` compare
with `val/<score>` and `test/<score>` one to one; `comparison` says which of the two is better.

The fit depends on the data alone: runs whose splits are equal (the jobs of a sweep over anything
but the data, stacked members) share one fit, found by a digest of the split tensors.
`data.baseline=false` turns it off; image data sets (FashionMNIST) have no baseline.
"""

import hashlib
import logging
import time
import warnings

import numpy as np
import torch

log = logging.getLogger("litlab")

ALPHAS = np.logspace(-3, 3, 7)  # RidgeCV's penalties, one per decade, chosen by (generalised) leave-one-out CV
CS = np.logspace(-3, 3, 7)  # LogisticRegressionCV's inverse penalties, chosen by cross-validated log loss
MAX_FOLDS = 3  # LogisticRegressionCV's folds (fewer when a class has fewer training rows)
SEARCH_ROWS = 2_000  # a larger table chooses C on this many of its training rows, then refits on all
# The refit on all rows of a large table stops at this gradient tolerance (scikit-learn's default is 1e-4):
# on 80,000 rows of 10 classes it takes 11 iterations instead of 17 and scores the same test log loss.
REFIT_TOL = 1e-3
# Fits kept in the process, the least recently used dropped first: one per distinct data set and split. A basic
# sweep runs its jobs in one process, and a grid of 10 learning rates x 20 seeds cycles through 20 splits.
CACHED = 64

_fits: dict[str, dict[str, torch.Tensor]] = {}


def scores(datamodule, system) -> dict[str, float]:
    """`baseline/val/*` and `baseline/test/*` for the run's data, scored by `system`'s loss and metrics.

    Empty when the data module has no baseline (`data.baseline=false`, image data) or cannot fit one.
    """
    if not getattr(datamodule, "baseline", False):
        return {}
    outputs = fitted_outputs(datamodule.splits, datamodule.task, datamodule.num_outputs)
    if outputs is None:
        return {}
    record = {}
    for split, output in outputs.items():
        target = datamodule.splits[split][1]
        metrics = system.make_scores()
        for metric in metrics.values():  # under DDP only rank 0 scores the baseline: nothing to gather from the others
            metric.distributed_available_fn = _one_process
        metrics.update(*system.score_inputs(output, target))
        values = {"loss": system.loss_fn(output, target), **metrics.compute()}
        record.update({f"baseline/{split}/{name}": float(value) for name, value in values.items()})
    return dict(sorted(record.items()))


def _one_process() -> bool:
    return False


def fitted_outputs(splits: dict, task: str, num_outputs: int) -> dict[str, torch.Tensor] | None:
    """The baseline's outputs on the val and test splits, as the network's would be: regression predictions
    (N,), classification logits (N, classes). Fitted on `splits["train"]` once per distinct set of splits."""
    key = _digest(splits, task, num_outputs)
    if key in _fits:
        _fits[key] = _fits.pop(key)  # the most recently used goes last
    else:
        from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

        started = time.process_time()
        # One BLAS thread: on these small problems more threads gain little, and on a busy machine OpenBLAS's
        # spinning threads took digits' fit from 1 s to 38 s of CPU.
        with threadpool_limits(limits=1, user_api="blas"):
            model = _fit(*_arrays(splits["train"]), task)
        if model is None:
            return None
        _fits[key] = {split: _outputs(model, splits[split][0], task, num_outputs) for split in ("val", "test")}
        while len(_fits) > CACHED:
            _fits.pop(next(iter(_fits)))
        log.debug("linear baseline %s fitted in %.2f s (CPU)", type(model).__name__, time.process_time() - started)
    return _fits[key]


def _fit(x: np.ndarray, y: np.ndarray, task: str):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, RidgeCV

    if task == "regression":
        return RidgeCV(alphas=ALPHAS).fit(x, y)
    counts = np.unique(y, return_counts=True)[1]
    if len(counts) < 2:
        log.warning("no linear baseline: the training rows hold one class only")
        return None
    search_x, search_y = _search_rows(x, y)
    folds = min(MAX_FOLDS, int(np.unique(search_y, return_counts=True)[1].min()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the largest C on separable rows: its score says enough
        warnings.simplefilter("ignore", FutureWarning)  # scikit-learn's notices of changing defaults
        if folds < 2:  # a class with a single training row: no folds to choose C by, scikit-learn's default C
            return LogisticRegression(max_iter=1000).fit(x, y)
        search = LogisticRegressionCV(Cs=CS, cv=folds, scoring="neg_log_loss", max_iter=1000).fit(search_x, search_y)
        if len(search_x) == len(x):
            return search
        return LogisticRegression(C=float(np.ravel(search.C_)[0]), tol=REFIT_TOL, max_iter=1000).fit(x, y)


def _search_rows(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most SEARCH_ROWS training rows, stratified, to choose C by: the folds' fits dominate the cost."""
    if len(x) <= SEARCH_ROWS:
        return x, y
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(x)), train_size=SEARCH_ROWS, stratify=y, random_state=0)
    return x[keep], y[keep]


def _outputs(model, x: torch.Tensor, task: str, num_outputs: int) -> torch.Tensor:
    x = _features(x)
    if task == "regression":
        return torch.as_tensor(model.predict(x), dtype=torch.float32)
    scores = model.decision_function(x)
    if scores.ndim == 1:  # two classes: one score s, whose softmax twin is the logits (0, s)
        scores = np.stack([np.zeros_like(scores), scores], axis=1)
    # A class absent from the training rows gets no probability at all (logit -inf).
    logits = np.full((len(x), num_outputs), -np.inf)
    logits[:, model.classes_.astype(int)] = scores
    return torch.as_tensor(logits, dtype=torch.float32)


def _arrays(split) -> tuple[np.ndarray, np.ndarray]:
    x, y = split
    return _features(x), y.numpy()


def _features(x: torch.Tensor) -> np.ndarray:
    return x.reshape(len(x), -1).double().numpy()  # digits' (N, 1, 8, 8) images: 64 columns


def _digest(splits: dict, task: str, num_outputs: int) -> str:
    digest = hashlib.blake2b(f"{task} {num_outputs}".encode(), digest_size=16)
    for split in ("train", "val", "test"):
        for tensor in splits[split]:
            digest.update(str((tensor.dtype, tuple(tensor.shape))).encode())
            digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


# -- the summary's line ---------------------------------------------------------------------------------
HEADLINE = {"test/acc": "higher", "test/mse": "lower"}  # the score each task's line compares, and which way is better


def comparison(record: dict) -> str | None:
    """ "network test/mse 0.21, linear baseline 0.17: the baseline is better", or None without a baseline."""
    for key, better in HEADLINE.items():
        if key in record and f"baseline/{key}" in record:
            network, baseline = record[key], record[f"baseline/{key}"]
            if network == baseline:
                verdict = "the two are equal"
            else:
                network_wins = (network > baseline) == (better == "higher")
                verdict = "the network is better" if network_wins else "the baseline is better"
            return f"network {key} {network:.4g}, linear baseline {baseline:.4g}: {verdict}"
    return None
