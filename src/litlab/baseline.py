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

import contextlib
import hashlib
import logging
import signal
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
        outputs = _fit_outputs(*_numpy(splits), task, num_outputs)
        if outputs is None:
            return None
        _fits[key] = {split: torch.from_numpy(output) for split, output in outputs.items()}
        while len(_fits) > CACHED:
            _fits.pop(next(iter(_fits)))
    return _fits[key]


def _numpy(splits: dict) -> tuple:
    """The training rows (features, targets) and the val and test features, as scikit-learn takes them."""
    return _arrays(splits["train"]), {split: _features(splits[split][0]) for split in ("val", "test")}


def _fit_outputs(train: tuple, features: dict, task: str, num_outputs: int) -> dict[str, np.ndarray] | None:
    """The baseline fitted on `train`, and its outputs on each of `features`, float32; numpy alone (no torch:
    a forked process runs it, and torch's thread pool is not safe to use after a fork)."""
    from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

    started = time.process_time()
    # One BLAS thread: on these small problems more threads gain little, and on a busy machine OpenBLAS's
    # spinning threads took digits' fit from 1 s to 38 s of CPU.
    with threadpool_limits(limits=1, user_api="blas"):
        model = _fit(*train, task)
    if model is None:
        return None
    log.debug("linear baseline %s fitted in %.2f s (CPU)", type(model).__name__, time.process_time() - started)
    return {split: _outputs(model, x, task, num_outputs) for split, x in features.items()}


class Ahead:
    """The baselines of some data modules fitted in a forked process while other work goes on (a stacked
    group's training): `collect()` waits for them and keeps them as if they were fitted here, so `scores`
    finds them. Where a fit did not come back (no fork on this platform, the process died), `scores` fits it
    here as before."""

    def __init__(self, datamodules: list):
        import multiprocessing

        todo = {}
        for datamodule in datamodules:
            if getattr(datamodule, "baseline", False):
                splits, task, outputs = datamodule.splits, datamodule.task, datamodule.num_outputs
                key = _digest(splits, task, outputs)
                if key not in _fits and key not in todo:
                    todo[key] = (*_numpy(splits), task, outputs)
        self.process = self.reader = None
        if not todo or "fork" not in multiprocessing.get_all_start_methods():
            return
        context = multiprocessing.get_context("fork")
        self.reader, writer = context.Pipe(duplex=False)
        # Forked: the splits are the parent's, not pickled. It ignores Ctrl-C and SIGTERM as the group's writer
        # does: the training process decides when to stop, and collects the fits or drops them.
        with _signals_ignored():
            self.process = context.Process(target=_fit_all, args=(todo, writer), daemon=True)
            self.process.start()
        writer.close()

    def collect(self) -> None:
        if self.process is None:
            return
        try:
            fits = self.reader.recv()
            _fits.update({key: {split: torch.from_numpy(a) for split, a in fit.items()} for key, fit in fits.items()})
        except (EOFError, OSError):  # it died: what is missing is fitted here
            pass
        self.reader.close()
        self.process.join()
        self.process = None

    def close(self) -> None:
        """Stop it, its fits unwanted (the group failed or was interrupted). It ignores SIGTERM: killed."""
        if self.process is not None:
            self.process.kill()
            self.process.join()
            self.reader.close()
            self.process = None


@contextlib.contextmanager
def _signals_ignored():
    """Ctrl-C, SIGTERM and the preemption signal ignored, in what is started within (forked processes inherit it)."""
    names = (signal.SIGINT, signal.SIGTERM, *([signal.SIGUSR2] if hasattr(signal, "SIGUSR2") else []))
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in names}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _fit_all(todo: dict, connection) -> None:
    """In the forked process: every fit of `todo` (digest -> _fit_outputs' arguments), sent back in one message
    as numpy arrays."""
    logging.disable(logging.CRITICAL)  # the parent says what there is to say when it scores the fits
    fits = {}
    for key, arguments in todo.items():
        outputs = _fit_outputs(*arguments)
        if outputs is not None:
            fits[key] = outputs
    connection.send(fits)
    connection.close()


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


def _outputs(model, x: np.ndarray, task: str, num_outputs: int) -> np.ndarray:
    if task == "regression":
        return np.asarray(model.predict(x), dtype=np.float32)
    scores = model.decision_function(x)
    if scores.ndim == 1:  # two classes: one score s, whose softmax twin is the logits (0, s)
        scores = np.stack([np.zeros_like(scores), scores], axis=1)
    # A class absent from the training rows gets no probability at all (logit -inf).
    logits = np.full((len(x), num_outputs), -np.inf)
    logits[:, model.classes_.astype(int)] = scores
    return logits.astype(np.float32)


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
