"""`python train.py experiment=polynomial_overfit`, written by hand in plain PyTorch (d2l 4.4's script, in effect).

    python scripts/handwritten_polynomial_overfit.py --out outputs/handwritten_polynomial

The same run: 300 draws of x ~ N(0, 1), features x^i / i! for i < 20, y = 5 + 1.2 x - 3.4 x^2/2! + 5.6 x^3/3!
+ noise (std 0.1), split 100 / 100 / 100; a linear model on all 20 features, no bias, weights N(0, 0.01^2);
SGD (lr 0.01) on shuffled batches of 10 for 1,500 epochs; the validation loss every 10 epochs; the final
weights saved and tested. `scripts/bench.py --small-run` times it against train.py.
"""

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def polynomial_splits(
    seed: int = 42, num_features: int = 20, max_degree: int = 20, noise: float = 0.1, sizes=(100, 100, 100)
) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(sum(sizes), 1, generator=g)
    powers = torch.arange(max_degree, dtype=torch.float32)
    factorials = torch.tensor([math.factorial(i) for i in range(max_degree)], dtype=torch.float32)
    features = x.pow(powers) / factorials
    w = torch.tensor(([5.0, 1.2, -3.4, 5.6] + [0.0] * max_degree)[:max_degree])
    y = features @ w + noise * torch.randn(sum(sizes), generator=g)
    parts = torch.split(torch.arange(sum(sizes)), list(sizes))
    return {name: (features[idx, :num_features], y[idx]) for name, idx in zip(("train", "val", "test"), parts)}


@torch.no_grad()
def mse(network: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return F.mse_loss(network(x).squeeze(-1), y).item()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=1500)
    parser.add_argument("--out", type=Path, default=Path("outputs/handwritten_polynomial"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    torch.manual_seed(42)
    splits = polynomial_splits()
    network = nn.Linear(20, 1, bias=False)
    nn.init.normal_(network.weight, std=0.01)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(42)
    x, y = splits["train"]
    val_loss = float("nan")  # until the first validation
    for epoch in range(args.epochs):
        order = torch.randperm(len(x), generator=generator)
        for begin in range(0, len(x), 10):
            idx = order[begin : begin + 10]
            loss = F.mse_loss(network(x[idx]).squeeze(-1), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if (epoch + 1) % 10 == 0:
            val_loss = mse(network, *splits["val"])
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"epoch": args.epochs - 1, "state_dict": network.state_dict(), "optimizer": optimizer.state_dict()},
        args.out / "last.pt",
    )
    result = {
        "val/loss": val_loss,
        "test/loss": mse(network, *splits["test"]),
        "w": network.weight[0, :4].tolist(),
        "seconds": time.perf_counter() - start,
    }
    print(result)
    return result


if __name__ == "__main__":
    main()
