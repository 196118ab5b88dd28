"""scikit-learn's 8x8 handwritten digits: a real image set (1,797 images) that needs no download."""

import torch

from litlab.data.base import InMemoryDataModule, stratified_split


class DigitsDataModule(InMemoryDataModule):
    per_feature_stats = False
    class_names = [str(d) for d in range(10)]

    def __init__(self, sizes: list[int] = (1437, 180, 180), **kwargs):
        super().__init__(**kwargs)
        self.sizes = list(sizes)  # train / val / test, stratified

    def load_splits(self):
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1)  # (N, 1, 8, 8)
        parts = stratified_split(digits.target, self.sizes, self.seed)
        return {
            name: (x[idx], torch.as_tensor(digits.target[idx])) for name, idx in zip(("train", "val", "test"), parts)
        }
