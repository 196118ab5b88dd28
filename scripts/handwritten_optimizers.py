"""`sweep=optimizers` written as a plain PyTorch script: the yardstick for `scripts/bench_stacked.py`.

    python scripts/handwritten_optimizers.py

Six optimizers x three seeds, each job trained alone as litlab's `experiment=iris_optimizers` trains it:
Iris split 120 / 15 / 15 (stratified), min-max inputs, a 4-16-3 sigmoid MLP, batch 24, 200 epochs, weight
decay off, validation every epoch, the best-val/loss weights tested. No logs, checkpoints or report.
"""

import copy
import json

import torch
from handwritten_iris_optimizers import evaluate, load_iris_splits, train_epoch  # the single run, by hand
from torch import nn

OPTIMIZERS = {  # the conf/optimizer/ options' defaults
    "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
    "momentum": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
    "adagrad": lambda p: torch.optim.Adagrad(p, lr=0.05),
    "adadelta": lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.9, eps=1e-6),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.001, alpha=0.9),
    "adam": lambda p: torch.optim.Adam(p, lr=0.001),
}


def job(name: str, seed: int, epochs: int = 200, batch: int = 24) -> dict:
    torch.manual_seed(seed)
    splits = load_iris_splits(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.Sigmoid(), nn.Linear(16, 3))
    optimizer = OPTIMIZERS[name](model.parameters())
    generator = torch.Generator().manual_seed(seed)
    best, best_state = float("inf"), None
    for _ in range(epochs):
        train_epoch(model, optimizer, *splits["train"], batch_size=batch, generator=generator)
        val_loss, _ = evaluate(model, *splits["val"])
        if val_loss < best:
            best, best_state = val_loss, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    test_loss, test_acc = evaluate(model, *splits["test"])
    return {"optimizer": name, "seed": seed, "val/loss": best, "test/loss": test_loss, "test/acc": test_acc}


if __name__ == "__main__":
    print(json.dumps([job(name, seed) for name in OPTIMIZERS for seed in (0, 1, 2)], indent=1))
