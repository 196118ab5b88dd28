"""The sweep report's time on a large sweep folder, made up: `python scripts/bench_report.py --jobs 1000`.

Writes a synthetic multirun folder of JOBS stacked jobs (`optimizer.lr` x `seed`, as a stacked sweep leaves
them: .hydra/overrides.yaml, metrics.json with an Iris member's metrics, history.csv and history.npy with
EPOCHS epochs; the first 20 also a TensorBoard event file, which the report must not need to read), then
times `write_report` on it in this process (tables and figures; the libraries imported first, as in a
sweep's process) and prints the figures as JSON (also written with --json).
"""

import argparse
import json
import math
import os
import random
import tempfile
import time
from pathlib import Path


def make_sweep(folder: Path, jobs: int, epochs: int, lrs: int = 40) -> Path:
    """A stacked sweep's job folders, its metrics made up (loss curves falling at a rate set by the lr)."""
    import numpy as np
    from torch.utils.tensorboard import SummaryWriter

    rng = random.Random(0)
    seeds = max(1, jobs // lrs)
    for job in range(jobs):
        lr, seed = 10 ** (-3 + 3 * (job // seeds % lrs) / lrs), job % seeds
        path = folder / str(job)
        (path / ".hydra").mkdir(parents=True)
        (path / ".hydra" / "overrides.yaml").write_text(f"- optimizer.lr={lr:.6g}\n- seed={seed}\n")
        rows, train, val = [], 0.0, 0.0
        for epoch in range(epochs):
            train = 1.1 * math.exp(-lr * epoch) + 0.05 * rng.random()
            val = train + 0.02 * rng.random()
            rows.append(f"{epoch},{train},{val}\n")
        (path / "history.csv").write_text("epoch,train/loss,val/loss\n" + "".join(rows))
        table = np.array([[float(v) for v in row.split(",")] for row in rows])
        np.save(path / "history.npy", np.rec.fromarrays(table.T, names=["epoch", "train/loss", "val/loss"]))
        # The final metrics an Iris member's metrics.json holds: three panels in metrics_vs_optimizer_lr.png.
        metrics = {"status": "completed", "epochs": epochs, "train/loss": train, "val/loss": val, "test/loss": val}
        metrics.update({f"{stage}/acc": 1 - val / 1.2 for stage in ("train", "val", "test")})
        metrics.update({"baseline/val/acc": 0.9, "baseline/val/loss": 0.2, "baseline/test/acc": 0.9})
        metrics.update({"baseline/test/loss": 0.2 + 0.01 * seed, "params/weight_norm": 2 + lr})
        (path / "metrics.json").write_text(json.dumps(metrics))
        if job < 20:  # event files beside them, as the writer leaves them (a few: writing them takes long)
            writer = SummaryWriter(str(path / "tensorboard"))
            for epoch, row in enumerate(rows):
                writer.add_scalar("train/loss", float(row.split(",")[1]), epoch)
            writer.close()
    return folder


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    # What the sweep's own process has imported by the time the report starts (training needs them).
    import matplotlib.pyplot  # noqa: F401
    import pandas  # noqa: F401
    import torch.utils.tensorboard  # noqa: F401

    from litlab.report import write_report

    with tempfile.TemporaryDirectory() as tmp:
        folder = make_sweep(Path(tmp) / "sweep", args.jobs, args.epochs)
        cpu, start = time.process_time(), time.perf_counter()
        write_report(folder, echo=False)
        results = {
            "jobs": args.jobs,
            "epochs": args.epochs,
            "report_wall_s": round(time.perf_counter() - start, 3),
            "report_cpu_s": round(time.process_time() - cpu, 3),
            "load_average": os.getloadavg(),
        }
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return results


if __name__ == "__main__":
    main()
