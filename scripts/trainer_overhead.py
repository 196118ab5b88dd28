"""What Lightning's `Trainer.fit` adds to every training step, whatever the model.

    python scripts/trainer_overhead.py                           # microseconds per step, three ways
    python scripts/trainer_overhead.py --bench bench.json        # and the best a/b that bench.py could show

A Linear(20, 10) on in-memory batches of 256 is too small to hide anything. The same steps run
(1) in a plain loop, (2) under a Trainer with automatic optimization, (3) under a Trainer with
manual optimization. Both Trainers run with no logger, callbacks, progress bar, checkpoints or
validation: the least any Trainer-based run pays per step. The batches are a list of tensors, so
no sampler or index work is counted either.

With `--bench` (a JSON written by `scripts/bench.py`) the script also prints the ceiling this puts
on bench.py's a/b: a Trainer step costs at least the loop's step plus the automatic overhead.
"""

import argparse
import json
import statistics
import time
from pathlib import Path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=400, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per path, after one warm-up epoch")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--bench", type=Path, default=None, help="a bench.py JSON: print the a/b ceiling it implies")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if min(args.batch_size, args.steps, args.epochs, args.threads or 1) < 1:
        parser.error("--batch-size, --steps, --epochs and --threads must be at least 1")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    batches = [
        (torch.randn(args.batch_size, 20, generator=g), torch.randint(0, 10, (args.batch_size,), generator=g))
        for _ in range(args.steps)
    ]
    us = {
        "loop": _loop(batches, args.epochs),
        "trainer_automatic": _trainer(batches, args.epochs, manual=False),
        "trainer_manual": _trainer(batches, args.epochs, manual=True),
    }
    result = {
        "us_per_step": us,
        "overhead_us": {k: us[k] - us["loop"] for k in ("trainer_automatic", "trainer_manual")},
        "batch_size": args.batch_size,
        "steps": args.steps,
        "epochs": args.epochs,
        "torch_threads": torch.get_num_threads(),
    }
    if args.bench:
        result["bench"] = _ceiling(json.loads(args.bench.read_text()), result["overhead_us"]["trainer_automatic"])
    _print(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _loop(batches, epochs: int) -> float:
    import torch.nn.functional as F

    network, optimizer = _network_and_optimizer()
    per_epoch = []
    for _ in range(1 + epochs):
        start = time.perf_counter()
        for x, y in batches:
            loss = F.cross_entropy(network(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        per_epoch.append((time.perf_counter() - start) / len(batches) * 1e6)
    return statistics.median(per_epoch[1:])


def _trainer(batches, epochs: int, manual: bool) -> float:
    import lightning as L
    import torch.nn.functional as F
    from torch.utils.data import DataLoader

    network, optimizer = _network_and_optimizer()

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.network, self.automatic_optimization = network, not manual

        def training_step(self, batch, batch_idx):
            loss = F.cross_entropy(self.network(batch[0]), batch[1])
            if manual:
                self.optimizers().zero_grad()
                self.manual_backward(loss)
                self.optimizers().step()
            return loss

        def configure_optimizers(self):
            return optimizer

    class EpochClock(L.Callback):
        """Epoch hooks only: litlab's TrainTimer also runs on every batch, which would add to what is measured."""

        def __init__(self):
            self.per_epoch = []

        def on_train_epoch_start(self, trainer, pl_module):
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module):
            self.per_epoch.append((time.perf_counter() - self.start) / len(batches) * 1e6)

    clock = EpochClock()
    trainer = L.Trainer(
        max_epochs=1 + epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        callbacks=[clock],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    # batch_size=None: the list's items already are batches.
    trainer.fit(Tiny(), train_dataloaders=DataLoader(batches, batch_size=None))
    return statistics.median(clock.per_epoch[1:])


def _network_and_optimizer():
    import torch

    torch.manual_seed(0)
    network = torch.nn.Linear(20, 10)
    return network, torch.optim.SGD(network.parameters(), lr=0.1)


def _ceiling(bench: dict, overhead_us: float) -> dict:
    """The best a/b a Trainer-based path could show in that bench run: loop step + Trainer overhead."""
    rates = bench["samples_per_s"]
    step_us = bench["batch_size"] / rates["loop_steps_only"] * 1e6  # the loop's step, its shuffle left out
    loop_us = bench["batch_size"] / rates["loop"] * 1e6  # with its shuffle, as bench.py's (b)
    return {
        "loop_step_us": step_us,
        "loop_us": loop_us,
        "ratio_vs_loop_at_most": loop_us / (step_us + overhead_us),
        "ratio_vs_loop_measured": bench["ratio_vs_loop"],
    }


def _print(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    us = r["us_per_step"]
    table = Table(
        title=f"one training step of Linear(20, 10), batch {r['batch_size']}, median of {r['epochs']} "
        f"epochs of {r['steps']} steps, {r['torch_threads']} torch threads",
        title_justify="left",
    )
    for column in ("path", "µs per step", "added per step"):
        table.add_column(column, justify="left" if column == "path" else "right")
    table.add_row("plain loop", f"{us['loop']:.0f}", "")
    table.add_row(
        "Trainer, automatic optimization",
        f"{us['trainer_automatic']:.0f}",
        f"{r['overhead_us']['trainer_automatic']:+.0f}",
    )
    table.add_row(
        "Trainer, manual optimization", f"{us['trainer_manual']:.0f}", f"{r['overhead_us']['trainer_manual']:+.0f}"
    )
    console = Console()
    console.print(table)
    if "bench" in r:
        b = r["bench"]
        console.print(
            f"bench.py's loop: {b['loop_step_us']:.0f} µs per step, {b['loop_us']:.0f} µs with its shuffle. "
            f"With the Trainer's {r['overhead_us']['trainer_automatic']:.0f} µs on top of that step, a/b can "
            f"be at most {b['ratio_vs_loop_at_most']:.2f} (measured there: {b['ratio_vs_loop_measured']:.2f})."
        )


if __name__ == "__main__":
    main()
