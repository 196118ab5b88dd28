"""Stratified random splits, drawn exactly as scikit-learn's `train_test_split(..., stratify=y)` draws them.

Importing scikit-learn takes about half a second (it imports pandas): more than the rest of a small run's way
to its first training step. Iris and the digits are split here without it. The draws are those of
scikit-learn's `StratifiedShuffleSplit`, the same `numpy.random.RandomState` calls in the same order, so each
split is the one scikit-learn gives for the same seed (tests/test_experiments.py compares them).
"""

import numpy as np

from litlab.errors import LitlabError


def stratified_take(indices: np.ndarray, y: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`size` of `indices` with the class proportions of `y` (their labels), and the rest; both shuffled."""
    classes, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    n_rest = len(indices) - size
    if class_counts.min() < 2 or min(size, n_rest) < len(classes):
        raise LitlabError(
            f"data.sizes: a stratified part of {size} of {len(indices)} samples needs every class "
            f"({len(classes)}) at least twice among them and once in both parts"
        )
    by_class = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    rng = np.random.RandomState(seed)
    n_take = _approximate_mode(class_counts, size, rng)
    n_left = _approximate_mode(class_counts - n_take, n_rest, rng)
    take, rest = [], []
    for members, k, left in zip(by_class, n_take, n_left):
        members = members.take(rng.permutation(len(members)), mode="clip")
        take.extend(members[:k])
        rest.extend(members[k : k + left])
    return indices[rng.permutation(take)], indices[rng.permutation(rest)]


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of each class `n_draws` draws take: the proportional share, rounded down, then one more for
    the classes with the largest remainders (ties broken at random)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need = int(n_draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (tied,) = np.where(remainder == value)
            add = min(len(tied), need)
            floored[rng.choice(tied, size=add, replace=False)] += 1
            need -= add
            if need == 0:
                break
    return floored.astype(int)
