"""`python train.py experiment=iris_optimizers`, written by hand in plain PyTorch: what litlab's run costs against.

    python scripts/handwritten_iris_optimizers.py --out outputs/handwritten_iris

The same run: scikit-learn's Iris in a stratified 120 / 15 / 15 split, min-max scaled with training-split
statistics; a 4-16-3 sigmoid MLP; SGD (lr 0.1) on shuffled batches of 24 for 200 epochs; a validation pass
(loss, accuracy) after every epoch; the best epoch's weights (lowest validation loss) kept, and saved with the
last ones at the end; the test split evaluated on the best weights. `scripts/bench.py --small-run` times it
against train.py, and reuses `train_epoch` and `evaluate` as its in-process loop.
"""

import argparse
import copy
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def load_iris_splits(seed: int = 42, sizes=(120, 15, 15)) -> dict:
    """Stratified splits as litlab's IrisDataModule draws them, min-max scaled with the training split's range."""
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    x, y = load_iris(return_X_y=True)
    rest, parts = np.arange(len(y)), []
    for i, size in enumerate(sizes):
        if size == len(rest):
            parts.append(rest)
            break
        take, rest = train_test_split(rest, train_size=size, stratify=y[rest], random_state=seed + i)
        parts.append(take)
    splits = {
        name: (torch.as_tensor(x[idx], dtype=torch.float32), torch.as_tensor(y[idx]))
        for name, idx in zip(("train", "val", "test"), parts)
    }
    low = splits["train"][0].amin(dim=0)
    scale = splits["train"][0].amax(dim=0) - low
    return {name: ((x - low) / scale, y) for name, (x, y) in splits.items()}


def train_epoch(
    network: nn.Module, optimizer, x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator
) -> None:
    network.train()
    order = torch.randperm(len(x), generator=generator)
    for start in range(0, len(x), batch_size):
        idx = order[start : start + batch_size]
        loss = F.cross_entropy(network(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@torch.no_grad()
def evaluate(network: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    network.eval()
    output = network(x)
    return F.cross_entropy(output, y).item(), (output.argmax(dim=1) == y).float().mean().item()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("outputs/handwritten_iris"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    torch.manual_seed(42)
    splits = load_iris_splits()
    network = nn.Sequential(nn.Linear(4, 16), nn.Sigmoid(), nn.Linear(16, 3))
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(42)
    best_loss, best = float("inf"), None
    for epoch in range(args.epochs):
        train_epoch(network, optimizer, *splits["train"], batch_size=24, generator=generator)
        val_loss, val_acc = evaluate(network, *splits["val"])
        if val_loss < best_loss:
            best_loss, best = val_loss, {"epoch": epoch, "state_dict": copy.deepcopy(network.state_dict())}
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(best, args.out / "best.pt")
    torch.save(
        {"epoch": args.epochs - 1, "state_dict": network.state_dict(), "optimizer": optimizer.state_dict()},
        args.out / "last.pt",
    )
    network.load_state_dict(best["state_dict"])
    test_loss, test_acc = evaluate(network, *splits["test"])
    result = {
        "val/loss": val_loss,
        "val/acc": val_acc,
        "best_epoch": best["epoch"],
        "test/loss": test_loss,
        "test/acc": test_acc,
        "seconds": time.perf_counter() - start,
    }
    print(result)
    return result


if __name__ == "__main__":
    main()
