"""`sweep=weight_decay` written as a plain PyTorch script: the yardstick for `scripts/bench_stacked.py`.

    python scripts/handwritten_weight_decay.py

d2l 4.5 as litlab's `experiment=weight_decay` runs it: y = 0.05 + 0.01 * sum(x) + noise with 200 inputs,
20 / 100 / 100 samples, linear regression with weights N(0, 1), SGD lr 0.003 with weight decay lambda on
the weight only, batch 5, 100 epochs, validation every 5, the final weights tested. Six lambdas x three seeds.
"""

import json

import torch
import torch.nn.functional as F
from torch import nn


def splits(seed: int, d: int = 200, sizes=(20, 100, 100)):
    g = torch.Generator().manual_seed(seed)
    n = sum(sizes)
    x = torch.randn(n, d, generator=g)
    y = x @ torch.full((d,), 0.01) + 0.05 + 0.01 * torch.randn(n, generator=g)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return [(x[i], y[i]) for i in torch.split(perm, list(sizes))]


def job(l2: float, seed: int, epochs: int = 100, batch: int = 5) -> dict:
    torch.manual_seed(seed)
    (x, y), (xv, yv), (xt, yt) = splits(seed)
    model = nn.Linear(200, 1)
    nn.init.normal_(model.weight, std=1.0)
    nn.init.zeros_(model.bias)
    optimizer = torch.optim.SGD(
        [{"params": [model.weight], "weight_decay": l2}, {"params": [model.bias], "weight_decay": 0.0}], lr=0.003
    )
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + epoch))
        for start in range(0, len(x), batch):
            idx = order[start : start + batch]
            loss = F.mse_loss(model(x[idx]).squeeze(-1), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if (epoch + 1) % 5 == 0:
            with torch.no_grad():
                val_loss = F.mse_loss(model(xv).squeeze(-1), yv).item()
    with torch.no_grad():
        test_loss = F.mse_loss(model(xt).squeeze(-1), yt).item()
    return {
        "l2": l2,
        "seed": seed,
        "val/loss": val_loss,
        "test/loss": test_loss,
        "weight_norm": model.weight.norm().item(),
    }


if __name__ == "__main__":
    print(json.dumps([job(l2, seed) for l2 in (0, 0.5, 1, 2, 3, 5) for seed in (0, 1, 2)], indent=1))
