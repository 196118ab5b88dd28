"""`python train.py` (the default run), written by hand in plain PyTorch: what litlab's whole process costs against.

    python scripts/handwritten_fashion_mnist.py --data-dir data --out outputs/handwritten_fashion_mnist

The same run: FashionMNIST's 60,000 training images (read by torchvision's IDX readers from
<data-dir>/FashionMNIST/raw/) less 5,000 drawn at random for validation, the official 10,000 for test, standardised
with one mean and std over the training pixels; a 784-256-10 ReLU MLP; SGD (lr 0.1) on shuffled batches of 256
for 10 epochs; a validation pass (loss, accuracy) after every epoch; the best epoch's weights (lowest validation
loss) kept, and saved with the last ones at the end; the test split evaluated on the best weights.
`scripts/bench.py --full-run` times it as a whole process beside `python train.py`.
"""

import argparse
import copy
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def load_splits(data_dir: Path, val_size: int, seed: int = 42) -> dict:
    from torchvision.datasets.mnist import read_image_file, read_label_file

    raw = data_dir / "FashionMNIST" / "raw"
    images = {p: read_image_file(str(raw / f"{p}-images-idx3-ubyte")).float() / 255 for p in ("train", "t10k")}
    labels = {p: read_label_file(str(raw / f"{p}-labels-idx1-ubyte")) for p in ("train", "t10k")}
    order = torch.randperm(len(images["train"]), generator=torch.Generator().manual_seed(seed))
    train, val = order[: len(order) - val_size], order[len(order) - val_size :]
    splits = {
        "train": (images["train"][train], labels["train"][train]),
        "val": (images["train"][val], labels["train"][val]),
        "test": (images["t10k"], labels["t10k"]),
    }
    mean, std = splits["train"][0].mean(), splits["train"][0].std()
    return {name: (((x - mean) / std).flatten(1), y) for name, (x, y) in splits.items()}


@torch.no_grad()
def evaluate(network: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> tuple[float, float]:
    network.eval()
    loss = correct = 0.0
    for start in range(0, len(x), batch_size):
        output = network(x[start : start + batch_size])
        loss += F.cross_entropy(output, y[start : start + batch_size], reduction="sum").item()
        correct += (output.argmax(dim=1) == y[start : start + batch_size]).sum().item()
    return loss / len(x), correct / len(x)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--val-size", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("outputs/handwritten_fashion_mnist"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    torch.manual_seed(42)
    splits = load_splits(args.data_dir, args.val_size)
    network = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(42)
    x, y = splits["train"]
    best_loss, best = float("inf"), None
    for epoch in range(args.epochs):
        network.train()
        order = torch.randperm(len(x), generator=generator)
        for first in range(0, len(x), args.batch_size):
            idx = order[first : first + args.batch_size]
            loss = F.cross_entropy(network(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        val_loss, val_acc = evaluate(network, *splits["val"], args.batch_size)
        if val_loss < best_loss:
            best_loss, best = val_loss, {"epoch": epoch, "state_dict": copy.deepcopy(network.state_dict())}
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(best, args.out / "best.pt")
    torch.save(
        {"epoch": args.epochs - 1, "state_dict": network.state_dict(), "optimizer": optimizer.state_dict()},
        args.out / "last.pt",
    )
    network.load_state_dict(best["state_dict"])
    test_loss, test_acc = evaluate(network, *splits["test"], args.batch_size)
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
