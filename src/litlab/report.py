"""The report of a sweep: one table and a few pictures from the job folders of a multirun.

`write_report(sweep_dir)` reads every job folder (`0/`, `1/`, ...): the overrides that made it
(`.hydra/overrides.yaml`) and its final metrics (`metrics.json`). The swept keys are the overrides
whose values differ between jobs. It writes, into the sweep folder:

- `report.md` and `report.csv`: one row per job, the swept keys, `status` and the final metrics (with the
  linear baseline's, `baseline/val/*` and `baseline/test/*`, on tables: litlab/baseline.py);
  a job whose status is not `completed` (failed, diverged, interrupted, `unfinished`: killed while
  training, its metrics.json still saying `running`; or no metrics.json at all) is marked;
- `report_by_seed.csv` when `seed` is swept: the runs that differ only in their seed, as mean and std;
  `report_by_fold.csv` when `data.fold` is swept (k-fold cross-validation), the same over folds, and
  `report_by_fold_and_seed.csv` when both are, over folds and seeds together;
- `metrics_vs_<key>.png`: every final metric against each swept key (log axes where values span
  decades), mean and std over seeds and folds;
- `learning_curves.png`: train and val loss per epoch of every run, read back from its TensorBoard
  events (or the CSV logger's metrics.csv);
- `tensorboard/`: the same figures and table in TensorBoard, and a link to each job's TensorBoard run
  named after its swept settings (`optimizer=adam,seed=1`), so `tensorboard --logdir SWEEP_DIR/tensorboard`
  tells the runs apart.

Settings appear in the order the sweep lists them (its first job first), in the grouped tables and
along the figures' axes.

`SweepReport` is the Hydra callback (conf/train.yaml, `hydra.callbacks`) that writes it when a
multirun ends, and then logs the best setting and where the report is; `python scripts/report.py
SWEEP_DIR` writes it for any sweep folder and prints its tables.
"""

import json
import logging
import math
import os
import socket
import warnings
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from litlab.errors import LitlabError

log = logging.getLogger("litlab")

STAGES = ("train", "val", "test")
CURVES = ("train/loss", "val/loss")
STYLES = {"train": ":", "val": "--", "test": "-"}  # line style per stage in the metric plots
SEED, FOLD = "seed", "data.fold"
HIGHER_IS_BETTER = ("acc", "r2")  # scores to maximize; every other metric (losses, errors) is minimized
NAME_BYTES = 255  # the longest file name most file systems take
REPEATS = {FOLD: "fold", SEED: "seed"}  # keys that repeat one setting (grouped to mean ± std), by their short name


class SweepReport(Callback):
    """Hydra callback: write the report into the sweep folder when a multirun ends."""

    sweep_dir: str | None = None  # of the multirun under way, for a sweeper that fails before its end

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        SweepReport.sweep_dir = str(config.hydra.sweep.dir)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = config.hydra.sweep.dir
        try:
            table, swept = load_runs(sweep_dir)
            write_report(sweep_dir, echo=False, runs=(table, swept))
        except Exception as error:  # every job's results are on disk already; never fail the sweep here
            log.warning("no sweep report (%s); try `python scripts/report.py %s`", error, sweep_dir)
            return
        best = best_setting(table, swept, config.get("optimized_metric") or "val/loss")
        if best:
            log.info("%s", best)
        log.info("report: %s/report.md (figures beside it; tensorboard --logdir %s/tensorboard)", sweep_dir, sweep_dir)


# -- reading the jobs -------------------------------------------------------------------------------
def load_runs(sweep_dir: str | Path):
    """One row per job folder: `job`, its overrides (key -> value) and its metrics.json; and the swept keys."""
    import pandas as pd
    from hydra.core.override_parser.overrides_parser import OverridesParser

    sweep_dir = Path(sweep_dir)
    jobs = sorted((p.parents[1] for p in sweep_dir.glob("*/.hydra/overrides.yaml")), key=_job_order)
    if not jobs:
        raise LitlabError(
            f"{sweep_dir}: no job folders (each with .hydra/overrides.yaml); give the folder of "
            "a multirun, e.g. outputs/multirun/DATE/TIME"
        )
    parser, parsed = OverridesParser.create(), {}
    rows, override_keys = [], []
    for job in jobs:
        row = {"job": job.name}
        for text in _load_yaml(job / ".hydra" / "overrides.yaml") or []:
            if text not in parsed:  # the jobs of a sweep share their override strings: each is parsed once
                override = parser.parse_overrides([text])[0]
                parsed[text] = (override.get_key_element().lstrip("+~"), override.get_value_element_as_str())
            key, value = parsed[text]
            row[key] = value
            if key not in override_keys:
                override_keys.append(key)
        row.update(_read_metrics(job))
        rows.append(row)
    table = pd.DataFrame(rows)
    swept = [k for k in override_keys if table[k].astype(str).nunique(dropna=False) > 1]
    for key in swept:  # numbers become numbers, so they sort and plot as numbers
        numeric = pd.to_numeric(table[key], errors="coerce")
        if numeric.notna().all():
            table[key] = numeric
    # A score equal to the loss in every run (regression's mse is the loss) only widens the table.
    metrics = [m for m in _metric_columns(table) if not _same_as_loss(table, m)]
    columns = ["job", *swept, "status", "epochs", *metrics]
    if "error" in table:
        columns.append("error")  # in report.csv; the Markdown lists it under the table
    return table[[c for c in columns if c in table]], swept


def _load_yaml(path: Path):
    """A small YAML file (a job's overrides.yaml), read with PyYAML's C loader: OmegaConf takes 10 ms per file."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(), Loader=loader)


def _same_as_loss(table, metric: str) -> bool:
    import numpy as np

    loss = metric.rsplit("/", 1)[0] + "/loss"  # test/mse: test/loss; baseline/test/mse: baseline/test/loss
    if not metric.endswith("/mse") or loss not in table:
        return False
    return bool(np.allclose(table[metric].astype(float), table[loss].astype(float), rtol=1e-5, equal_nan=True))


def _job_order(job: Path):
    return (0, int(job.name)) if job.name.isdigit() else (1, job.name)


def _read_metrics(job: Path) -> dict:
    path = job / "metrics.json"
    if not path.exists():  # never started, or stopped before training
        return {"status": "no metrics.json"}
    record = json.loads(path.read_text())
    if record.get("status") == "running":  # written when training starts, replaced when it ends
        record = {
            "status": "running" if _alive(record) else "unfinished",
            "error": f"started {record.get('started')} as pid {record.get('pid')} on {record.get('host')}; "
            + (
                "still running"
                if _alive(record)
                else f"it ended without a result (killed?); `python train.py resume={job}` continues it"
            ),
        }
    # metrics.json writes NaN and inf as strings; read them back as numbers.
    return {
        k: (float(v) if isinstance(v, str) and v.lower() in ("nan", "inf", "-inf") else v)
        for k, v in record.items()
        if k != "best_checkpoint"
    }


def _alive(record: dict) -> bool:
    """Whether the process that wrote a `running` record still runs (only knowable on its own host)."""
    if record.get("host") != socket.gethostname() or not isinstance(record.get("pid"), int):
        return False
    try:
        os.kill(record["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def _metric_columns(table) -> list[str]:
    """Final metrics in reading order: train, val, test, the linear baseline's, then params; learning rates left out."""
    names = [c for c in table.columns if "/" in c and not c.startswith("lr-")]
    order = {prefix: i for i, prefix in enumerate((*STAGES, "baseline", "params"))}
    return sorted(names, key=lambda c: (order.get(c.split("/")[0], len(order)), c))


def groupings(swept: list[str]) -> list[tuple[str, ...]]:
    """The repeat keys to group over: seeds; or folds, and folds and seeds together when both are swept."""
    if FOLD in swept:
        return [(FOLD,), *([(FOLD, SEED)] if SEED in swept else [])]
    return [(SEED,)] if SEED in swept else []


def grouped_over(table, swept: list[str], over: tuple[str, ...] = (SEED,)):
    """Runs that differ only in the keys `over` (seed, data.fold), grouped: mean and std of each metric,
    and how many completed."""
    import pandas as pd

    keys = [k for k in swept if k not in over]
    metrics = _metric_columns(table)
    numbers = table[metrics].apply(pd.to_numeric, errors="coerce")
    by = [table[k] for k in keys] if keys else [pd.Series(0, index=table.index)]  # one group when nothing else
    every = numbers.groupby(by, sort=False, dropna=False)  # in the sweep's order
    done = numbers[table["status"] == "completed"].groupby(by, sort=False, dropna=False)
    settings = every.size().index
    count = done.size().reindex(settings, fill_value=0)
    mean, std = done.mean().reindex(settings), done.std(ddof=1).reindex(settings)  # std: NaN below two runs
    out = pd.DataFrame(list(settings), columns=keys) if keys else pd.DataFrame(index=[0])
    out["runs"] = [f"{n}/{m}" for n, m in zip(count, every.size())]  # completed / all runs of the setting
    for metric in metrics:
        out[f"{metric} mean"] = mean[metric].to_numpy()
        out[f"{metric} std"] = std[metric].to_numpy()
    return out


# -- reading the learning curves -------------------------------------------------------------------
def learning_curves(job: Path) -> dict:
    """{"train/loss": Series by epoch, "val/loss": ...} from the run's history.csv (a stacked member's),
    its TensorBoard events or the CSV logger's metrics.csv."""
    import pandas as pd

    history = _history_curves(job)
    if history is not None:
        return {tag: pd.Series(values, index=epochs) for tag, (epochs, values) in history.items()}
    events = _event_folders(job)
    if events:
        return _tensorboard_curves(events[0])
    csvs = sorted(job.rglob("metrics.csv"))
    return _csv_curves(csvs[0]) if csvs else {}


def _history_curves(job: Path) -> dict | None:
    """{tag: (epochs, values)} of the CURVES from a job's history.npy or history.csv (a stacked member's
    metrics per epoch), as numpy arrays, epochs without a value left out; None when it has neither.

    history.npy is read first: parsing 1,000 CSV files would take longer than the whole report may."""
    import numpy as np

    if (job / "history.npy").exists():
        table = _read_npy(job / "history.npy")
        columns = {name: table[name] for name in table.dtype.names}
    elif (job / "history.csv").exists():
        import csv

        with open(job / "history.csv", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            rows = list(reader)
        columns = {name: np.array([float(r[i]) if r[i] else np.nan for r in rows]) for i, name in enumerate(header)}
    else:
        return None
    if "epoch" not in columns:
        return {}
    curves = {}
    for tag in CURVES:
        if tag in columns:
            kept = ~np.isnan(columns[tag])
            curves[tag] = (columns["epoch"][kept].astype(int), columns[tag][kept])
    return curves


_NPY_HEADERS: dict[bytes, tuple] = {}  # a .npy file's header -> its (shape, fortran order, dtype)


def _read_npy(path: Path):
    """`np.load` of a .npy file, its header parsed once for all the files that share it.

    The jobs of a stacked sweep write history files of one dtype and length, so their headers are the same bytes;
    parsing a header (a Python literal) is most of what `np.load` costs on a small file."""
    import io

    import numpy as np

    data = path.read_bytes()
    if data[6:7] not in (b"\x01", b"\x02"):  # format versions 1 and 2 (numpy.lib.format); others as numpy reads them
        return np.load(path)
    size = 2 if data[6] == 1 else 4
    start = 8 + size + int.from_bytes(data[8 : 8 + size], "little")
    header = data[:start]
    if header not in _NPY_HEADERS:
        stream = io.BytesIO(data)
        version = np.lib.format.read_magic(stream)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        _NPY_HEADERS[header] = read(stream)
    shape, fortran, dtype = _NPY_HEADERS[header]
    if fortran or dtype.hasobject:
        return np.load(path)
    return np.frombuffer(data, dtype, offset=start).reshape(shape)


def _tensorboard_curves(folder: Path) -> dict:
    import pandas as pd
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})  # 0: keep every point
    quiet = logging.getLogger("tensorboard")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # its loader logs a line per file it reads ("No path found after ...")
    try:
        events.Reload()
    finally:
        quiet.setLevel(level)
    tags = events.Tags()["scalars"]
    if "epoch" not in tags:
        return {}
    # Lightning logs `epoch` beside every metric, at the same step: that maps steps to epochs.
    epoch_at = {e.step: int(e.value) for e in events.Scalars("epoch")}
    curves = {}
    for tag in CURVES:
        if tag in tags:
            points = {epoch_at.get(e.step, e.step): e.value for e in events.Scalars(tag)}  # a resumed epoch: last value
            curves[tag] = pd.Series(points).sort_index()
    return curves


def _csv_curves(path: Path) -> dict:
    import pandas as pd

    frame = pd.read_csv(path)
    return {
        tag: frame.dropna(subset=[tag]).groupby("epoch")[tag].last()
        for tag in CURVES
        if tag in frame and "epoch" in frame
    }


# -- the report ------------------------------------------------------------------------------------
def write_report(sweep_dir: str | Path, plots: bool = True, echo: bool = True, runs: tuple | None = None) -> list[Path]:
    """Write the table (Markdown, CSV), the grouped table and the figures; return the files written.

    `runs`: what `load_runs(sweep_dir)` returns, when the caller has read the jobs already."""
    sweep_dir = Path(sweep_dir)
    table, swept = runs if runs is not None else load_runs(sweep_dir)
    written = [sweep_dir / "report.csv"]
    table.to_csv(written[0], index=False)
    sections = [_markdown(table.drop(columns="error", errors="ignore"), f"Sweep {sweep_dir}: {len(table)} runs")]
    for _, row in table[table["status"] != "completed"].iterrows():
        reason = " ".join(str(row["error"]).split()) if isinstance(row.get("error"), str) else ""
        sections.append(f"- job {row['job']}: **{row['status']}** {reason[:200]}".rstrip())
    for over in groupings(swept):
        grouped = grouped_over(table, swept, over)
        written.append(sweep_dir / f"report_by_{'_and_'.join(REPEATS[k] for k in over)}.csv")
        grouped.to_csv(written[-1], index=False)
        sections.append(_markdown(_mean_std(grouped), f"Grouped over {_repeats(over)}: mean ± std"))
    optuna = sweep_dir / "optimization_results.yaml"
    if optuna.exists():
        best = OmegaConf.load(optuna)
        if "best_params" in best:
            params = " ".join(f"{k}={v}" for k, v in best.best_params.items())
            sections.append(f"Optuna's best trial: value {best.best_value:.4g} with `{params}`")
    markdown = "\n\n".join(sections) + "\n"
    written.append(sweep_dir / "report.md")
    written[-1].write_text(markdown)
    if echo:
        print(markdown)  # plain Markdown: paste it into a README or a paper's notes
    if plots:
        figures = _figures(sweep_dir, table, swept)
        written += [path for path, _ in figures]
        _to_tensorboard(sweep_dir / "tensorboard", figures, markdown)
        link_runs(sweep_dir, table, swept)
        written.append(sweep_dir / "tensorboard")
    return written


def best_setting(table, swept: list[str], metric: str) -> str | None:
    """`best by val/loss (mean over 3 seeds): optimizer=adam: val/loss 0.21 ± 0.004, test/acc 0.97 ± 0.05`."""
    higher = metric.split("/")[-1] in HIGHER_IS_BETTER
    done = table[table["status"] == "completed"]
    if metric not in table or done[metric].isna().all():
        return None
    over = groupings(swept)
    shown = [metric, *(m for m in _metric_columns(table) if m.startswith("test/") and m != metric)]
    if over:
        grouped = grouped_over(table, swept, over[-1]).dropna(subset=[f"{metric} mean"])
        row = grouped.loc[grouped[f"{metric} mean"].idxmax() if higher else grouped[f"{metric} mean"].idxmin()]
        keys = [k for k in swept if k not in over[-1]]
        values = [_cell(row[f"{m} mean"]) + _spread(row[f"{m} std"]) for m in shown]
        how = f" (mean over {row['runs'].split('/')[0]} {_repeats(over[-1])})"
    else:
        row = done.loc[done[metric].idxmax() if higher else done[metric].idxmin()]
        keys, values, how = swept, [_cell(row[m]) for m in shown], f" (job {row['job']})"
    setting = " ".join(f"{k}={_cell(row[k])}" for k in keys) or "the only setting"
    return f"best by {metric}{how}: {setting}: " + ", ".join(f"{m} {v}" for m, v in zip(shown, values))


def _spread(std) -> str:
    return "" if isinstance(std, float) and math.isnan(std) else f" ± {std:.2g}"


def link_runs(sweep_dir: Path, table, swept: list[str]) -> None:
    """`tensorboard/<settings>`: a link to each job's TensorBoard run, named after its swept settings.

    Names come from the job's `.hydra/overrides.yaml`, which a resume leaves alone, so they stay the same;
    a name is cut to fit a file name (255 bytes) and then ends with its job number.
    """
    folder = sweep_dir / "tensorboard"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        if old.is_symlink():
            old.unlink()
    for row in table.to_dict("records"):
        runs = _event_folders(sweep_dir / str(row["job"]))
        if not runs:
            continue
        name = ",".join(f"{k}={_cell(row[k])}" for k in swept).replace("/", "_") or f"job {row['job']}"
        if len(name.encode()) > NAME_BYTES or (folder / name).exists():
            suffix = f"… job {row['job']}"
            name = name.encode()[: NAME_BYTES - len(suffix.encode())].decode(errors="ignore") + suffix
        (folder / name).symlink_to(os.path.relpath(runs[0], folder), target_is_directory=True)


def _event_folders(job: Path) -> list[Path]:
    """The folders under a job's that hold TensorBoard event files, sorted (os.walk: faster than Path.rglob)."""
    return sorted(
        Path(root) for root, _, files in os.walk(job) if any(f.startswith("events.out.tfevents.") for f in files)
    )


def _repeats(keys) -> str:
    """ "seeds", "folds and seeds": the repeat keys among `keys`, in words."""
    return " and ".join(f"{REPEATS[k]}s" for k in REPEATS if k in keys)


def _markdown(table, title: str) -> str:
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([f"**{title}**", "", header, rule, *rows])


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return (str(value).splitlines() or [""])[0].replace("|", "\\|") if value is not None else ""


def _mean_std(grouped):
    """The grouped table with each metric's mean and std in one cell: `0.123 ± 0.004`."""
    out = grouped[[c for c in grouped.columns if not c.endswith((" mean", " std"))]].copy()
    for column in grouped.columns:
        if column.endswith(" mean"):
            metric = column[: -len(" mean")]
            std = grouped[f"{metric} std"]
            out[metric] = [_cell(m) + ("" if math.isnan(s) else f" ± {s:.2g}") for m, s in zip(grouped[column], std)]
    return out


# -- figures ---------------------------------------------------------------------------------------
def _figures(sweep_dir: Path, table, swept: list[str]) -> list:
    import matplotlib

    matplotlib.use("Agg")
    figures = []
    for key in swept:
        if key not in REPEATS:
            figures.append((sweep_dir / f"metrics_vs_{_filename(key)}.png", _metrics_figure(table, swept, key)))
    figures.append((sweep_dir / "learning_curves.png", _curves_figure(sweep_dir, table, swept)))
    for path, figure in figures:
        figure.savefig(path, dpi=110)  # the constrained layout fits them: "tight" would draw each twice
    return figures


def _filename(key: str) -> str:
    return key.replace("/", "_").replace(".", "_")


def _panels(table) -> list[tuple[str, list[str]]]:
    """One panel per score (loss, acc, mse: train, val and test together, and the linear baseline's val and test
    beside them) and one per params/* metric."""
    panels: dict[str, list[str]] = {}
    for metric in _metric_columns(table):
        stage, _ = _series(metric)
        panels.setdefault(metric.rsplit("/", 1)[1] if stage else metric, []).append(metric)
    return list(panels.items())


def _series(metric: str) -> tuple[str | None, str]:
    """A metric's name in its panel's legend and its line style: `val/acc` ("val", "--"), `baseline/test/acc`
    ("baseline test", "-"); (None, "-") for a metric with a panel of its own."""
    parts = metric.split("/")
    if len(parts) == 2 and parts[0] in STAGES:
        return parts[0], STYLES[parts[0]]
    if len(parts) == 3 and parts[0] == "baseline" and parts[1] in STAGES:
        return f"baseline {parts[1]}", STYLES[parts[1]]
    return None, "-"


def _metrics_figure(table, swept: list[str], key: str):
    """One panel per metric family; x = the key, one line per setting of the other swept keys (seeds averaged)."""
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.lines import Line2D
    from matplotlib.transforms import ScaledTranslation

    others = [k for k in swept if k != key and k not in REPEATS]
    done = table[table["status"] == "completed"]
    groups = list(done.groupby(others, sort=False, dropna=False)) if others else [((), done)]  # the sweep's order
    # An Optuna search sets every key anew in each trial: no two runs share a setting, so points, no lines.
    scatter = len(groups) > 8 or all(group[key].nunique() < 2 for _, group in groups) and len(groups) > 1
    numeric = pd.api.types.is_numeric_dtype(table[key])
    panels = _panels(table)
    cols = min(3, len(panels)) or 1
    rows = -(-len(panels) // cols) or 1
    width = max(4.4 * cols, 6.4)  # room for the title above a single panel
    fig, axes = plt.subplots(rows, cols, figsize=(width, 3.3 * rows), squeeze=False, layout="constrained")
    if not numeric:  # categories along x in the order the sweep lists them
        for ax in axes.flat:
            ax.xaxis.update_units([str(v) for v in pd.unique(done[key])])
    for ax, (name, metrics) in zip(axes.flat, panels):
        values = []
        for s, metric in enumerate(metrics):
            stage, style = _series(metric)
            # train, val and test side by side at each x, a few points apart, so no marker hides another. The
            # shift is set once the points are drawn: plotted through it, they would widen the axes' limits by it.
            shift = ax.transData + ScaledTranslation((s - (len(metrics) - 1) / 2) * 5 / 72, 0, fig.dpi_scale_trans)
            if scatter:
                x = _x(done[key], numeric)
                for line in ax.plot(x, done[metric], "o", color=f"C{s}", alpha=0.7, label=stage):
                    line.set_transform(shift)
                values += list(done[metric])
                continue
            for g, (_, group) in enumerate(groups):
                stats = group.groupby(key, sort=numeric)[metric].agg(["mean", "std"])  # numbers: lines left to right
                color = f"C{g}" if len(groups) > 1 else f"C{s}"
                bars = ax.errorbar(
                    _x(pd.Series(stats.index), numeric),
                    stats["mean"],
                    yerr=stats["std"].fillna(0),
                    fmt="o" + (style if numeric else ""),
                    color=color,
                    capsize=3,
                    label=stage if g == 0 else None,
                )
                for artist in bars.get_children():
                    artist.set_transform(shift)
                values += list(stats["mean"])
        ax.set_title(name)
        ax.set_xlabel(key)
        # The outermost series sit (n - 1) / 2 * 5 points off their x, and a marker reaches 3 points either side:
        # the margins, a share of the panel's width (about its figure share less the labels), keep them in view.
        edge = ((len(metrics) - 1) / 2 * 5 + 6) / 72
        ax.margins(x=max(0.05, edge / (width / cols - 0.9)))
        if numeric:
            _scale(ax.set_xscale, list(done[key]))
        _scale(ax.set_yscale, values)
        _minor_ticks(ax)
        if len(metrics) > 1:
            if len(groups) > 1 and not scatter:  # colors are settings here: the legend shows the line styles
                ax.legend(
                    [Line2D([], [], color="gray", linestyle=_series(m)[1]) for m in metrics],
                    [_series(m)[0] for m in metrics],
                    fontsize=7,
                )
            else:
                ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    if len(groups) > 1 and not scatter:
        labels = [
            ", ".join(f"{k}={_cell(v)}" for k, v in zip(others, values if isinstance(values, tuple) else (values,)))
            for values, _ in groups
        ]
        fig.legend(
            [Line2D([], [], color=f"C{g}", marker="o") for g in range(len(groups))],
            labels,
            loc="outside right center",
            fontsize=7,
        )
    repeats = _repeats([k for k in swept if k in REPEATS])
    fig.suptitle(f"final metrics against {key}" + (f" (mean ± std over {repeats})" if repeats else ""))
    return fig


def _x(values, numeric: bool):
    return list(values) if numeric else [str(v) for v in values]


def _scale(set_scale, values) -> None:
    """Log scale when the positive values span two decades or more; symlog when zero is among them."""
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    positive = [v for v in finite if v > 0]
    if len(positive) < 2 or any(v < 0 for v in finite) or max(positive) / min(positive) < 100:
        return
    if len(positive) == len(finite):
        set_scale("log")
    else:
        set_scale("symlog", linthresh=min(positive))


def _minor_ticks(ax) -> None:
    """On a log axis, minor ticks at 2 and 5 times each power of ten: matplotlib's eight a decade took a third of
    the time a figure of a few panels takes to draw."""
    from matplotlib.ticker import LogLocator

    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() == "log":
            axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))


MANY_LINES = 30  # more jobs than this, with repeats of a setting: its mean and spread, not a line per job


def _curves_figure(sweep_dir: Path, table, swept: list[str]):
    """Train and val loss per epoch: a line per job, or with many jobs, per setting the mean over its
    repeats (seeds, folds) and a band from their minimum to their maximum.

    Each panel draws its lines as one LineCollection and its bands as one PolyCollection: a thousand
    separate artists would take seconds to draw; the legend names settings through stand-in lines."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, len(CURVES), figsize=(6.2 * len(CURVES), 4.2), squeeze=False, layout="constrained")
    others = [k for k in swept if k not in REPEATS]
    settings: dict[tuple, list] = {}  # setting -> [(row, curves)]
    for row in table.to_dict("records"):
        settings.setdefault(tuple(row[k] for k in others), []).append((row, _curve_arrays(sweep_dir / str(row["job"]))))
    spread = len(table) > MANY_LINES and any(len(jobs) > 1 for jobs in settings.values())
    colors = _colors(len(settings))
    shown = _legend_entries(len(settings))
    legend: dict[str, str] = {}  # label -> color, in the order first drawn
    for ax, tag in zip(axes.flat, CURVES):
        lines, line_colors, bands, band_colors, values = [], [], [], [], []
        for s, (setting, jobs) in enumerate(settings.items()):
            name = ", ".join(f"{k}={_cell(v)}" for k, v in zip(others, setting)) or None
            if spread:
                done = [curves[tag] for row, curves in jobs if tag in curves and row["status"] == "completed"]
                if done:
                    epochs, mean, low, high = _mean_and_range(done)
                    lines.append(np.column_stack([epochs, mean]))
                    line_colors.append(colors[s])
                    values.append(mean)  # the axis' scale follows the means
                    kept = np.isfinite(low) & np.isfinite(high)  # a polygon's vertices must be numbers
                    edges = np.column_stack([epochs[kept], low[kept]]), np.column_stack([epochs[kept], high[kept]])
                    bands.append(np.concatenate([edges[0], edges[1][::-1]]))
                    band_colors.append(colors[s])
                    if s in shown and name:
                        legend.setdefault(name, colors[s])
                continue
            for j, (row, curves) in enumerate(jobs):
                if tag not in curves:
                    continue
                epochs, points = curves[tag]
                lines.append(np.column_stack([epochs, points]))
                line_colors.append(colors[s])
                values.append(points)
                label = name or f"job {row['job']}"
                if row["status"] != "completed":
                    legend.setdefault(f"{label} ({row['status']})", colors[s])
                elif j == 0 and s in shown:  # one legend entry per setting, its repeats drawn in the same color
                    legend.setdefault(label, colors[s])
        if bands:
            ax.add_collection(PolyCollection(bands, facecolors=band_colors, alpha=0.2, linewidths=0))
        if lines:
            ax.add_collection(
                LineCollection(lines, colors=line_colors, linewidths=1.2 if spread else 1.5, alpha=1 if spread else 0.8)
            )
            ax.autoscale_view()
        ax.set_title(tag)
        ax.set_xlabel("epoch")
        _scale(ax.set_yscale, list(np.concatenate(values)) if values else [])
        _minor_ticks(ax)
    if legend:
        handles = [Line2D([], [], color=color) for color in legend.values()]
        fig.legend(handles, list(legend), loc="outside right center", fontsize=7)
    repeats = [REPEATS[k] for k in REPEATS if k in swept]
    if spread:
        how = f" (per setting: mean and min-max band over {' and '.join(repeats) or 'its runs'}"
        how += f"; {len(shown)} of {len(settings)} settings named)" if len(shown) < len(settings) else ")"
    else:
        how = f" (one color per setting, a line per {' and '.join(repeats)})" if repeats else ""
    fig.suptitle(f"learning curves of {len(table)} runs" + how)
    return fig


def _curve_arrays(job: Path) -> dict:
    """{tag: (epochs, values)} of a job: from its history file if it has one, else what `learning_curves` finds."""
    history = _history_curves(job)
    if history is not None:
        return history
    return {tag: (series.index.to_numpy(), series.to_numpy()) for tag, series in learning_curves(job).items()}


def _mean_and_range(curves: list[tuple]) -> tuple:
    """Per epoch, the mean, minimum and maximum of several curves (epochs some of them lack left out)."""
    import numpy as np

    epochs = np.unique(np.concatenate([e for e, _ in curves]))
    table = np.full((len(curves), len(epochs)), np.nan)
    for i, (e, v) in enumerate(curves):
        table[i, np.searchsorted(epochs, e)] = v
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an epoch where every curve is NaN
        return epochs, np.nanmean(table, 0), np.nanmin(table, 0), np.nanmax(table, 0)


def _colors(count: int) -> list:
    """Up to 10 settings: the default color cycle; more: a sequential colormap, in the settings' order."""
    if count <= 10:
        return [f"C{i}" for i in range(count)]
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    return [cmap(i / (count - 1)) for i in range(count)]


def _legend_entries(count: int, most: int = 12) -> set[int]:
    """The settings named in the legend: all up to `most`, else `most` of them evenly spaced (first and last)."""
    if count <= most:
        return set(range(count))
    return {round(i * (count - 1) / (most - 1)) for i in range(most)}


def _to_tensorboard(folder: Path, figures: list, markdown: str) -> None:
    """The figures and the table as one TensorBoard run beside the jobs' own runs."""
    import time

    import matplotlib.pyplot as plt
    from PIL import Image
    from tensorboard.compat.proto.summary_pb2 import Summary
    from torch.utils.tensorboard import SummaryWriter

    from litlab.stacked.event_file import EventFile

    # The images are framed by EventFile, their checksums by a C extension: TensorBoard's writer checksums a record
    # a byte at a time in Python, a tenth of a second for a figure of half a megabyte.
    events = EventFile.made(lambda: SummaryWriter(str(folder)), folder)
    events.experiment.add_text("sweep/report", markdown)
    images = []
    for path, _ in figures:  # the PNG files as they are: drawing or encoding them again costs seconds
        with Image.open(path) as image:
            width, height = image.size
        png = Summary.Image(height=height, width=width, colorspace=4, encoded_image_string=path.read_bytes())
        images.append((0, time.time(), Summary(value=[Summary.Value(tag=f"sweep/{path.stem}", image=png)])))
    events.append(images)
    events.experiment.close()
    for _, figure in figures:
        plt.close(figure)
