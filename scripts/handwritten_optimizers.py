"""`sweep=optimizers` written as a plain PyTorch script: the yardstick for `scripts/bench_stacked.py`.

    python scripts/handwritten_optimizers.py

Six optimizers x three seeds, each job trained alone as litlab's `experiment=iris_optimizers` trains it:
Iris split 120 / 15 / 15 (stratified), min-max inputs, a 4-16-3 sigmoid MLP, batch 24, 200 epochs, weight
decay off, validation every epoch, the best-val/loss weights tested. No logs, checkpoints or report.
"""

import copy
import json

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from torch import nn

OPTIMIZERS = {   # the conf/optimizer/ options' defaults
    "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
    "momentum": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
    "adagrad": lambda p: torch.optim.Adagrad(p, lr=0.05),
    "adadelta": lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.9, eps=1e-6),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.001, alpha=0.9),
    "adam": lambda p: torch.optim.Adam(p, lr=0.001),
}


def splits(seed: int):
    x, y = load_iris(return_X_y=True)
    rest, parts = np.arange(len(y)), []
    for i, size in enumerate((120, 15)):
        take, rest = train_test_split(rest, train_size=size, stratify=y[rest], random_state=seed + i)
        parts.append(take)
    parts.append(rest)
    x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    low, high = x[parts[0]].amin(0), x[parts[0]].amax(0)
    return [((x[i] - low) / (high - low), y[i]) for i in parts]


def evaluate(model, x, y):
    with torch.no_grad():
        out = model(x)
        return F.cross_entropy(out, y).item(), (out.argmax(1) == y).float().mean().item()


def job(name: str, seed: int, epochs: int = 200, batch: int = 24) -> dict:
    torch.manual_seed(seed)
    (x, y), (xv, yv), (xt, yt) = splits(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.Sigmoid(), nn.Linear(16, 3))
    optimizer = OPTIMIZERS[name](model.parameters())
    best, best_state = float("inf"), None
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + epoch))
        for start in range(0, len(x), batch):
            idx = order[start : start + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        val_loss, _ = evaluate(model, xv, yv)
        if val_loss < best:
            best, best_state = val_loss, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    test_loss, test_acc = evaluate(model, xt, yt)
    return {"optimizer": name, "seed": seed, "val/loss": best, "test/loss": test_loss, "test/acc": test_acc}


if __name__ == "__main__":
    print(json.dumps([job(name, seed) for name in OPTIMIZERS for seed in (0, 1, 2)], indent=1))
