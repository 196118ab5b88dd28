"""`python train.py -m experiment=iris_optimizers optimizer.lr=<10 values> seed=range(20)`, written by hand as one
batched PyTorch program: what a stacked sweep of 200 jobs costs against.

    python scripts/handwritten_iris_grid.py --out outputs/handwritten_iris_grid

Every job is a member along the first dimension of every tensor: its own learning rate, and its own seed for
the initial weights, the data split (stratified 120 / 15 / 15, min-max scaled with the training split's range,
as scripts/handwritten_iris_optimizers.py draws it) and the order of its batches. A 4-16-3 sigmoid MLP trained
by plain SGD on batches of 24 for 200 epochs with `torch.baddbmm`; a validation pass after every epoch; each
member's best weights (lowest validation loss) kept by a masked copy; the test split evaluated on them. Each
job's folder gets a metrics.json: the final metrics, the best epoch and the validation-loss curve.
"""

import argparse
import importlib.util
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

LRS = (0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0)


def splits_for(seeds: list[int]) -> dict[int, dict]:
    """Each seed's splits, drawn by scripts/handwritten_iris_optimizers.py's `load_iris_splits`."""
    spec = importlib.util.spec_from_file_location("iris", Path(__file__).with_name("handwritten_iris_optimizers.py"))
    single = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(single)
    return {seed: single.load_iris_splits(seed=seed) for seed in seeds}


def init_weights(seeds: torch.Tensor, sizes=(4, 16, 3)) -> list[torch.Tensor]:
    """nn.Linear's default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), from each member's seed."""
    weights = [[] for _ in range(2 * (len(sizes) - 1))]
    for seed in seeds.tolist():
        generator = torch.Generator().manual_seed(seed)
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            bound = 1 / math.sqrt(fan_in)
            weights[2 * layer].append((torch.rand(fan_in, fan_out, generator=generator) * 2 - 1) * bound)
            weights[2 * layer + 1].append((torch.rand(1, fan_out, generator=generator) * 2 - 1) * bound)
    return [torch.stack(w).requires_grad_() for w in weights]


def forward(weights: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """x: [members, batch, 4] -> logits [members, batch, 3]."""
    w1, b1, w2, b2 = weights
    return torch.baddbmm(b2, torch.sigmoid(torch.baddbmm(b1, x, w1)), w2)


def losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each member's mean cross-entropy: [members]."""
    members, batch, classes = logits.shape
    return F.cross_entropy(logits.reshape(-1, classes), y.reshape(-1), reduction="none").view(members, batch).mean(1)


@torch.no_grad()
def evaluate(weights, x, y) -> tuple[torch.Tensor, torch.Tensor]:
    logits = forward(weights, x)
    return losses(logits, y), (logits.argmax(-1) == y).float().mean(1)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lrs", default=",".join(map(str, LRS)), help="comma-separated learning rates")
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0 .. N-1 for each learning rate")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--out", type=Path, default=Path("outputs/handwritten_iris_grid"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    lrs = [float(v) for v in args.lrs.split(",")]
    jobs = [(lr, seed) for lr in lrs for seed in range(args.seeds)]  # Hydra's order: the last override varies fastest
    lr = torch.tensor([lr for lr, _ in jobs]).view(-1, 1, 1)
    seeds = torch.tensor([seed for _, seed in jobs])
    data = splits_for(list(range(args.seeds)))
    x, y = {}, {}
    for name in ("train", "val", "test"):
        x[name] = torch.stack([data[seed][name][0] for seed in seeds.tolist()])  # [members, n, 4]
        y[name] = torch.stack([data[seed][name][1] for seed in seeds.tolist()])
    weights = init_weights(seeds)
    best = [w.detach().clone() for w in weights]
    members, n = x["train"].shape[:2]
    best_loss = torch.full((members,), math.inf)
    best_epoch = torch.zeros(members, dtype=torch.long)
    curve = torch.empty(args.epochs, members)
    generator = torch.Generator().manual_seed(0)
    rows = torch.arange(members).view(-1, 1)
    for epoch in range(args.epochs):
        order = torch.rand(members, n, generator=generator).argsort(dim=1)  # each member's own shuffle
        for begin in range(0, n, args.batch_size):
            idx = order[:, begin : begin + args.batch_size]
            loss = losses(forward(weights, x["train"][rows, idx]), y["train"][rows, idx]).sum()
            grads = torch.autograd.grad(loss, weights)
            with torch.no_grad():
                for w, g in zip(weights, grads):
                    w.sub_(lr * g)
        val_loss, _ = evaluate(weights, x["val"], y["val"])
        curve[epoch] = val_loss
        improved = val_loss < best_loss
        best_loss = torch.where(improved, val_loss, best_loss)
        best_epoch = torch.where(improved, epoch, best_epoch)
        for kept, w in zip(best, weights):
            kept.copy_(torch.where(improved.view(-1, 1, 1), w.detach(), kept))
    train_loss, train_acc = evaluate(weights, x["train"], y["train"])
    val_loss, val_acc = evaluate(weights, x["val"], y["val"])
    test_loss, test_acc = evaluate(best, x["test"], y["test"])
    trained_s = time.perf_counter() - start
    for job, (job_lr, seed) in enumerate(jobs):
        folder = args.out / str(job)
        folder.mkdir(parents=True, exist_ok=True)
        record = {
            "optimizer.lr": job_lr,
            "seed": seed,
            "train/loss": train_loss[job].item(),
            "train/acc": train_acc[job].item(),
            "val/loss": val_loss[job].item(),
            "val/acc": val_acc[job].item(),
            "best_epoch": best_epoch[job].item(),
            "test/loss": test_loss[job].item(),
            "test/acc": test_acc[job].item(),
            "val_loss_curve": curve[:, job].tolist(),
        }
        (folder / "metrics.json").write_text(json.dumps(record) + "\n")
    result = {
        "jobs": len(jobs),
        "epochs": args.epochs,
        "trained_s": trained_s,
        "seconds": time.perf_counter() - start,
        "mean_test_acc": test_acc.mean().item(),
    }
    print(result)
    return result


if __name__ == "__main__":
    main()
