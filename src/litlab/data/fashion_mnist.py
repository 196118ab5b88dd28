"""FashionMNIST: 70,000 28x28 grey images of clothing in 10 classes (Xiao et al. 2017).

Where the files come from, first match wins:
1. `<data_dir>/FashionMNIST/raw/` already holds them (torchvision's layout);
2. Debian's package `dataset-fashion-mnist` (`apt-get install dataset-fashion-mnist`) put the gzip
   files in `/usr/share/datasets/fashion-mnist/`: they are unpacked into (1). torchvision's download
   would refuse them, because its checksums are those of its own mirror's files;
3. torchvision downloads them, when the network allows.
"""

import gzip
import os
import shutil
from pathlib import Path

import torch

from litlab.data.base import InMemoryDataModule, split_indices
from litlab.errors import LitlabError

FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"


def files_present(data_dir: str | Path, system_dir: str | Path = SYSTEM_DIR) -> bool:
    """Whether a run finds the files without a download: in <data_dir>/FashionMNIST/raw/, or gzipped in system_dir."""
    return _all_in(Path(data_dir) / "FashionMNIST" / "raw") or _all_in(system_dir, ".gz")


def _all_in(folder: str | Path, suffix: str = "") -> bool:
    return all((Path(folder) / f"{name}{suffix}").exists() for name in FILES)


class FashionMNISTDataModule(InMemoryDataModule):
    per_feature_stats = False
    class_names = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"]

    def __init__(self, val_size: int = 5000, system_dir: str = SYSTEM_DIR, download: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.val_size = val_size  # carved out of the 60,000 training images; test stays the official 10,000
        self.system_dir, self.download = system_dir, download

    @property
    def raw_dir(self) -> Path:
        return Path(self.data_dir) / "FashionMNIST" / "raw"

    def prepare_data(self) -> None:
        if _all_in(self.raw_dir):
            return
        if _all_in(self.system_dir, ".gz"):
            self.raw_dir.mkdir(parents=True, exist_ok=True)
            for name in FILES:
                _gunzip(Path(self.system_dir) / f"{name}.gz", self.raw_dir / name)
            return
        if self.download:
            from torchvision.datasets import FashionMNIST

            try:
                FashionMNIST(self.data_dir, download=True)
                return
            except Exception:  # no network: fall through to the message below
                pass
        raise LitlabError(
            f"FashionMNIST not found in {self.raw_dir}/ and it could not be downloaded. Provide it one of "
            f"three ways: copy the four IDX files there; `apt-get install dataset-fashion-mnist` (files in "
            f"{self.system_dir}/); or run once with network access (data.download=true)."
        )

    def load_splits(self):
        self.prepare_data()
        train_x, train_y = self._read(train=True)
        test_x, test_y = self._read(train=False)
        train_idx, val_idx = split_indices(len(train_x), [len(train_x) - self.val_size, self.val_size], self.seed)
        return {
            "train": (train_x[train_idx], train_y[train_idx]),
            "val": (train_x[val_idx], train_y[val_idx]),
            "test": (test_x, test_y),
        }

    def _read(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision.datasets.mnist import read_image_file, read_label_file

        prefix = "train" if train else "t10k"
        images, labels = self.raw_dir / f"{prefix}-images-idx3-ubyte", self.raw_dir / f"{prefix}-labels-idx1-ubyte"
        try:
            x = read_image_file(str(images))
        except Exception as e:
            raise _corrupt(images, e) from None
        try:
            y = read_label_file(str(labels))
        except Exception as e:
            raise _corrupt(labels, e) from None
        if len(x) != len(y):
            raise LitlabError(
                f"{images} has {len(x)} images but {labels} has {len(y)} labels: delete both "
                "and the next run unpacks or downloads them again"
            )
        return x.unsqueeze(1).float() / 255, y  # (N, 1, 28, 28) in [0, 1]


def _corrupt(path: Path, error: Exception) -> LitlabError:
    reason = str(error) or type(error).__name__
    return LitlabError(
        f"{path} is truncated or corrupt ({reason}); delete it and the next run unpacks or downloads it again"
    )


def _gunzip(src: Path, dst: Path) -> None:
    """Unpack to a temporary name and rename, so an interrupted unpack never leaves half a file."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        with gzip.open(src, "rb") as f_in, open(tmp, "wb") as f_out:
            shutil.copyfileobj(f_in, f_out)
    except (OSError, EOFError) as e:
        tmp.unlink(missing_ok=True)
        raise LitlabError(
            f"{src} is truncated or corrupt ({e}); reinstall it with "
            "`apt-get install --reinstall dataset-fashion-mnist`"
        ) from None
    os.replace(tmp, dst)
