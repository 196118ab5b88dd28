"""What a run leaves behind, written the same way by a single run, a stacked member and `eval.py`.

`write_metrics` writes the folder's `metrics.json`, `log_hparams` fills TensorBoard's HParams tab (or
MLflow's params), and `print_summary` prints the table of final metrics, the network against the linear
baseline (litlab/baseline.py) when the record has one, and the run's folder.
"""

import json
import math
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from litlab.baseline import summary_line


def number(value) -> float:
    """A logged value (a tensor or a number) as a Python float."""
    return value.item() if isinstance(value, torch.Tensor) else float(value)


def write_metrics(cfg: DictConfig, record: dict) -> None:
    """`record` as the run folder's metrics.json (`cfg.paths.output_dir`), replacing what was there."""
    path = Path(cfg.paths.output_dir) / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    # NaN and inf are written as strings so the file stays valid JSON.
    clean = {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
    path.write_text(json.dumps(clean, indent=2) + "\n")


def log_hparams(loggers: list, cfg: DictConfig, metrics: dict) -> None:
    """Fill TensorBoard's HParams tab: the run's settings beside its final metrics; MLflow's params likewise."""
    from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger

    params = _flatten(OmegaConf.to_container(cfg, resolve=True))
    params = {k: v for k, v in params.items() if not k.startswith(("paths.", "callbacks.", "logger."))}
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            finals = {f"hp/{k}": v for k, v in metrics.items() if k.startswith(("val/", "test/", "baseline/"))}
            logger.log_hyperparams(params, metrics=finals)
        elif isinstance(logger, MLFlowLogger):  # its final metrics are already there, logged by the test
            logger.log_hyperparams(params)


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat


def print_summary(cfg: DictConfig, record: dict) -> None:
    """The final metrics as a table on the console, then the run's folder."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{record['status']}, {record['epochs']} epochs", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in record.items():
        if key.startswith(("train/", "val/", "test/", "params/")):
            table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console = Console()
    console.print(table)
    comparison = summary_line(record)
    if comparison:
        console.print(comparison)
    console.print(f"run folder: {cfg.paths.output_dir}")
