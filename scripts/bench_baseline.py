"""What the linear baseline costs a run: `litlab.baseline.scores` on a table of 100,000 rows and 50 columns.

    python scripts/bench_baseline.py                      # regression, 2, 3 and 10 classes; JSON into outputs/
    python scripts/bench_baseline.py --rows 20000 --repeats 1 --out /tmp/bench_baseline.json

Each case times a first call (the fit, its predictions on val and test, the scores through the run's own
loss and metrics) and a second call on the same splits (the fit found in the process's cache), on this
process's CPU clock (steadier than the wall clock on a shared machine), the median of --repeats fits.
The rows are standard normal columns with a linear signal and noise, split 80 / 10 / 10.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from litlab import baseline
from litlab.data.base import InMemoryDataModule
from litlab.models.mlp import MLP
from litlab.systems import SYSTEMS


class Table(InMemoryDataModule):
    """A random table of `rows` x `columns`: linear regression targets, or classes by the largest of k scores."""

    def __init__(self, rows: int, columns: int, classes: int, seed: int):
        super().__init__(seed=seed, baseline=True)
        self.rows, self.columns, self.classes = rows, columns, classes
        self.task = "classification" if classes else "regression"

    def load_splits(self):
        g = torch.Generator().manual_seed(self.seed)
        x = torch.randn(self.rows, self.columns, generator=g)
        w = torch.randn(self.columns, max(1, self.classes), generator=g)
        scores = x @ w + torch.randn(self.rows, max(1, self.classes), generator=g)
        y = scores.argmax(1) if self.classes else scores[:, 0]
        cut = [int(0.8 * self.rows), int(0.9 * self.rows)]
        return {"train": (x[: cut[0]], y[: cut[0]]), "val": (x[cut[0] : cut[1]], y[cut[0] : cut[1]]),
                "test": (x[cut[1] :], y[cut[1] :])}  # fmt: skip


def measure(rows: int, columns: int, classes: int, repeats: int) -> dict:
    firsts, seconds = [], []
    for repeat in range(repeats):
        data = Table(rows, columns, classes, seed=repeat)  # new splits each time: a fit, not the cache
        data.setup()
        network = MLP(columns, data.num_outputs, hidden=[8])
        task_args = {"num_classes": data.num_outputs} if classes else {}
        system = SYSTEMS[data.task](network, torch.optim.Adam, **task_args)
        started = time.process_time()
        scores = baseline.scores(data, system)
        firsts.append(time.process_time() - started)
        started = time.process_time()
        baseline.scores(data, system)
        seconds.append(time.process_time() - started)
    return {
        "task": data.task,
        "classes": classes,
        "rows": rows,
        "columns": columns,
        "train_rows": len(data.splits["train"][0]),
        "first_call_cpu_s": float(np.median(firsts)),
        "first_call_cpu_s_each": firsts,
        "cached_call_cpu_s": float(np.median(seconds)),
        "scores": scores,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=50)
    parser.add_argument("--classes", type=int, nargs="*", default=[0, 2, 3, 10], help="0: regression")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="outputs/bench_baseline.json")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the figures are for one core (numpy's BLAS: set OMP_NUM_THREADS=1 as well)
    started = time.process_time()
    import sklearn.linear_model  # noqa: F401  paid once per process, before the first fit: timed on its own

    import_cpu_s = time.process_time() - started
    print(f"import sklearn.linear_model: {import_cpu_s:.2f} s (CPU), once per process")
    results = []
    print(f"{'task':15s} {'rows':>8s} {'cols':>5s} {'first call (CPU s)':>19s} {'cached (CPU s)':>15s}")
    for classes in args.classes:
        result = measure(args.rows, args.columns, classes, args.repeats)
        results.append(result)
        task = f"{classes} classes" if classes else "regression"
        print(
            f"{task:15s} {args.rows:8d} {args.columns:5d} {result['first_call_cpu_s']:19.3f} "
            f"{result['cached_call_cpu_s']:15.4f}",
            flush=True,
        )
    record = {
        "results": results,
        "import_cpu_s": import_cpu_s,
        "clock": "process CPU time",
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average": os.getloadavg(),
        "search_rows": baseline.SEARCH_ROWS,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"load average {record['load_average'][0]:.2f}; written: {out}")


if __name__ == "__main__":
    main()
