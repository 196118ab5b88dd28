"""What a run leaves behind, written the same way by a single run, a stacked member and `eval.py`.

`write_metrics` writes the folder's `metrics.json`, `log_hparams` fills TensorBoard's HParams tab (or
MLflow's params), and `print_summary` prints the table of final metrics, the network against the linear
baseline (litlab/baseline.py) when the record has one, and the run's folder (inside a multirun: one line),
and writes the final metrics into the run's log file.
"""

import json
import logging
import math
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from litlab import baseline


def number(value) -> float:
    """A logged value (a tensor or a number) as a Python float."""
    return value.item() if isinstance(value, torch.Tensor) else float(value)


def optimized_value(cfg: DictConfig, metrics: dict) -> float | None:
    """The value of the metric `optimized_metric` names, which a job returns to its sweeper; None without one."""
    metric = cfg.get("optimized_metric")
    value = metrics.get(metric) if metric else None
    return None if value is None else float(value)


def write_metrics(cfg: DictConfig, record: dict) -> None:
    """`record` as the run folder's metrics.json (`cfg.paths.output_dir`), replacing what was there."""
    path = Path(cfg.paths.output_dir) / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    # NaN and inf are written as strings so the file stays valid JSON.
    clean = {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
    path.write_text(json.dumps(clean, indent=2) + "\n")


# The run's log file alone (conf/hydra/job_logging/litlab.yaml): its overrides and final metrics.
TRAIN_LOG = logging.getLogger("litlab.train_log")
log = logging.getLogger("litlab")


def log_hparams(loggers: list, cfg: DictConfig, metrics: dict, resolved: dict | None = None) -> None:
    """Fill TensorBoard's HParams tab: the run's settings beside its final metrics; MLflow's params likewise.

    `resolved`: `cfg` already resolved to a container, where the caller has it (resolving costs milliseconds).

    The HParams tab reads a metric's value from the run's scalars of the same name: `val/loss` and `test/loss`
    are there already (logged per epoch, and by the test), so the summary names them and logs no new points.
    """
    from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger

    params = hparams_params(cfg, resolved)
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            from torch.utils.tensorboard import SummaryWriter

            logger.log_hyperparams(params)  # hparams.yaml
            with SummaryWriter(logger.log_dir) as writer:  # the run's folder: TensorBoard reads it as one run
                for summary in hparams_summaries(params, metrics):
                    writer.file_writer.add_summary(summary)
        elif isinstance(logger, MLFlowLogger):  # its final metrics are already there, logged by the test
            logger.log_hyperparams(params)


def hparams_params(cfg: DictConfig, resolved: dict | None = None) -> dict:
    """The settings the HParams tab shows: the config flattened to dotted keys, less paths, callbacks and logger."""
    params = _flatten(resolved if resolved is not None else OmegaConf.to_container(cfg, resolve=True))
    return {k: v for k, v in params.items() if not k.startswith(("paths.", "callbacks.", "logger."))}


def hparams_summaries(params: dict, metrics: dict) -> list:
    """The TensorBoard Summaries of the HParams tab (experiment, session start and end), then a scalar at step 0
    for each baseline figure (they have no scalars of their own yet); written as events without a step."""
    from torch.utils.tensorboard.summary import hparams, scalar

    finals = {k: v for k, v in metrics.items() if k.startswith(("val/", "test/", "baseline/"))}
    return [*hparams(params, finals), *(scalar(k, v) for k, v in finals.items() if k.startswith("baseline/"))]


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat


def print_summary(
    cfg: DictConfig,
    record: dict,
    console_log: logging.Logger = log,
    train_log: logging.Logger = TRAIN_LOG,
    brief: bool | None = None,
) -> None:
    """The final metrics as a table on the console, then the run's folder; the metrics in the log file.

    `brief` (by default: inside a multirun): one line, on the console and in the log file, as
    `console_log` writes both; the sweep's report has the table.
    """
    if _in_multirun() if brief is None else brief:
        console_log.info("%s", summary_line(record))
        return
    from rich.console import Console
    from rich.table import Table

    train_log.info("%s", summary_line(record))
    if stop_reason(record):
        console_log.info("%s", stop_reason(record))  # and in the log file
    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in record.items():
        if _is_metric(key):
            table.add_row(key, _show(value))
    print(headline(record))
    Console().print(table)
    comparison = baseline.comparison(record)
    if comparison:
        print(comparison)
        train_log.info("%s", comparison)
    print(f"run folder: {cfg.paths.output_dir}")  # on one line, however long: a user copies it


def headline(record: dict) -> str:
    """`completed, 12 epochs`, and `stopped early` when an EarlyStopping callback ended training."""
    return f"{record['status']}, {record['epochs']} epochs" + (", stopped early" if record.get("stopped_early") else "")


def stop_reason(record: dict) -> str | None:
    """Why training stopped early, in a line: the monitored metric, the patience and Lightning's reason."""
    why = record.get("stopped_early")
    return f"stopped early on {why['monitor']} with patience {why['patience']}: {why['message']}" if why else None


def summary_line(record: dict) -> str:
    """`completed, 10 epochs: val/loss 0.2483, val/acc 0.8667, test/loss 0.1837, test/acc 0.9333, ...`."""
    metrics = ", ".join(f"{k} {_show(v)}" for k, v in sorted(record.items(), key=_stage_order) if _is_metric(k))
    line = f"{headline(record)}: {metrics}" if metrics else headline(record)
    return f"{line} ({stop_reason(record)})" if stop_reason(record) else line


def _is_metric(key: str) -> bool:
    return key.startswith(("train/", "val/", "test/", "params/"))


def _stage_order(item: tuple) -> tuple:
    stages = ("val/", "test/", "train/", "params/")
    return next((i for i, s in enumerate(stages) if item[0].startswith(s)), len(stages)), item[0]


def _show(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
