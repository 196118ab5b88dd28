"""How `experiment=tabular_csv` was chosen: d2l 5.7's k-fold model selection over a small grid, on four tables.

    python scripts/select_tabular.py                       # every setting of GRID on every table
    python scripts/select_tabular.py --settings 0 3 --tables wine diabetes --out outputs/select_tabular

Each setting of GRID is a `python train.py -m sweep=kfold ...` on each table (5 folds of the non-test rows),
through `litlab.sweep`. Its score on a table is the mean over the folds of the network's final `val/loss`
(cross-entropy, or MSE of the standardised targets), divided by the mean of the linear baseline's
`baseline/val/loss` on the same folds (litlab/baseline.py): below 1 the network is better. Settings are
ranked on each table by that mean loss; of the settings within 1.1x of the baseline on every table, the one
with the best mean rank over the tables wins.
It prints the table of ratios and writes `selection.json` (every fold's losses, the ranks, the winner)
into --out. `data=csv` jobs run one after the other (the stacked launcher does not take them).

The tables: the project's example tables (scripts/make_example_tables.py: breast cancer, and diabetes with
text and empty cells) and scikit-learn's bundled wine and diabetes as they ship.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# name -> the overrides that point data=csv at it
TABLES = {
    "breast_cancer": ["data.path={dir}/breast_cancer.csv", "data.target=diagnosis"],
    "wine": ["data.path={dir}/wine.csv", "data.target=cultivar"],
    "diabetes_example": [
        "data.path={dir}/diabetes.csv",
        "data.target=progression",
        "data.task=regression",
        "data.id_column=id",
    ],
    "diabetes": ["data.path={dir}/diabetes_sklearn.csv", "data.target=progression", "data.task=regression"],
}

EARLY = ["callbacks=early_stopping", "callbacks.early_stopping.patience=10", "trainer.max_epochs=200"]
FIXED = ["callbacks.early_stopping=null"]  # no early stopping: trainer.max_epochs epochs
# Width, weight decay, dropout, and epochs (fixed, or early stopping on val/loss with a patience of 10).
GRID = [
    ["model.hidden=[64]", "regularization.l2=0.01", "model.dropout=0.1", *FIXED, "trainer.max_epochs=40"],
    ["model.hidden=[64]", "regularization.l2=0.01", "model.dropout=0.1", *EARLY],
    ["model.hidden=[64]", "regularization.l2=0.1", "model.dropout=0.1", *EARLY],
    ["model.hidden=[64]", "regularization.l2=0.01", "model.dropout=0.3", *EARLY],
    ["model.hidden=[32]", "regularization.l2=0.1", "model.dropout=0.3", *EARLY],
    ["model.hidden=[128]", "regularization.l2=0.1", "model.dropout=0.5", *EARLY],
    ["model.hidden=[256]", "regularization.l2=0.01", "model.dropout=0.5", *EARLY],
    ["model.hidden=[32]", "regularization.l2=0.01", "model.dropout=0.0", *FIXED, "trainer.max_epochs=20"],
]
TARGET = 1.1  # the network's mean val/loss at most this many times the baseline's, on every table
QUIET = [
    "logger=none",
    "callbacks.progress_bar=null",
    "trainer.enable_model_summary=false",
    "~hydra.callbacks.sweep_report",
]


def write_tables(folder: Path) -> None:
    """The example tables (by the project's own script) and scikit-learn's wine and diabetes as CSV files."""
    from sklearn.datasets import load_diabetes, load_wine

    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_example_tables.py"), "--out", str(folder)], check=True)
    wine = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    wine.to_csv(folder / "wine.csv", index=False)
    diabetes = load_diabetes(as_frame=True, scaled=False).frame.rename(columns={"target": "progression"})
    diabetes.to_csv(folder / "diabetes_sklearn.csv", index=False)


def kfold(table: str, setting: list[str], folder: Path, sweep_dir: Path) -> dict:
    """One `sweep=kfold` of `setting` on `table`: each fold's network and baseline val/loss."""
    import litlab

    data = [o.format(dir=folder) for o in TABLES[table]]
    result = litlab.sweep("sweep=kfold", *data, *setting, *QUIET, f"hydra.sweep.dir={sweep_dir}")
    done = result.table[result.table["status"] == "completed"]
    if len(done) < len(result.table):
        raise RuntimeError(f"{table}: {len(result.table) - len(done)} folds did not complete, see {sweep_dir}")
    return {
        "network": done["val/loss"].tolist(),
        "baseline": done["baseline/val/loss"].tolist(),
        "epochs": done["epochs"].tolist(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs/select_tabular", help="folder for the tables, sweeps and JSON")
    parser.add_argument("--settings", type=int, nargs="*", default=list(range(len(GRID))), help="GRID indices")
    parser.add_argument("--tables", nargs="*", default=list(TABLES), choices=list(TABLES))
    args = parser.parse_args()
    out = Path(args.out).absolute()
    (out / "tables").mkdir(parents=True, exist_ok=True)
    write_tables(out / "tables")

    results: dict[str, dict[int, dict]] = {t: {} for t in args.tables}
    started = time.process_time(), time.perf_counter()
    for table in args.tables:  # table by table: the baseline is fitted once per fold, shared by the settings
        for s in args.settings:
            folds = kfold(table, GRID[s], out / "tables", out / "sweeps" / table / str(s))
            folds["network_mean"], folds["baseline_mean"] = np.mean(folds["network"]), np.mean(folds["baseline"])
            folds["ratio"] = folds["network_mean"] / folds["baseline_mean"]
            results[table][s] = folds
            print(
                f"{table:17s} setting {s}: network {folds['network_mean']:.4f}, baseline "
                f"{folds['baseline_mean']:.4f}, ratio {folds['ratio']:.3f}, epochs {folds['epochs']}",
                flush=True,
            )
    cpu, wall = time.process_time() - started[0], time.perf_counter() - started[1]

    # Ranks per table (1: the lowest mean val/loss), then the mean rank of each setting over the tables.
    ranks = {
        t: dict(zip(args.settings, _ranks([results[t][s]["network_mean"] for s in args.settings]))) for t in args.tables
    }
    mean_rank = {s: float(np.mean([ranks[t][s] for t in args.tables])) for s in args.settings}
    worst = {s: max(results[t][s]["ratio"] for t in args.tables) for s in args.settings}
    # The best mean rank among the settings within TARGET of the baseline on every table (all, if none is);
    # a tie goes to the smaller worst ratio.
    eligible = [s for s in args.settings if worst[s] <= TARGET] or list(args.settings)
    best = min(eligible, key=lambda s: (mean_rank[s], worst[s]))

    header = f"{'setting':60s} " + " ".join(f"{t:>17s}" for t in args.tables) + "  mean rank  worst"
    print("\nnetwork / baseline 5-fold mean val/loss (below 1: the network is better)\n" + header)
    for s in args.settings:
        cells = " ".join(f"{results[t][s]['ratio']:>11.3f} (#{ranks[t][s]:.0f})" for t in args.tables)
        chosen = "  <- chosen" if s == best else ""
        print(f"{s}: {' '.join(GRID[s])[:57]:57s} {cells}  {mean_rank[s]:9.2f}  {worst[s]:5.3f}{chosen}")
    print(f"\nchosen: setting {best}: {' '.join(GRID[best])}")
    print(f"{len(args.tables) * len(args.settings) * 5} runs in {wall:.0f} s wall, {cpu:.0f} s CPU of this process")

    record = {
        "grid": {s: GRID[s] for s in args.settings},
        "results": {t: {str(s): r for s, r in v.items()} for t, v in results.items()},
        "ranks": {t: {str(s): r for s, r in v.items()} for t, v in ranks.items()},
        "mean_rank": {str(s): r for s, r in mean_rank.items()},
        "worst_ratio": {str(s): r for s, r in worst.items()},
        "target": TARGET,
        "eligible": eligible,
        "chosen": best,
        "chosen_overrides": GRID[best],
        "wall_s": wall,
        "cpu_s": cpu,
    }
    (out / "selection.json").write_text(json.dumps(record, indent=2, default=float) + "\n")
    print(f"written: {out / 'selection.json'}")


def _ranks(values: list[float]) -> list[float]:
    from scipy.stats import rankdata

    return [float(r) for r in rankdata(values)]


if __name__ == "__main__":
    main()
