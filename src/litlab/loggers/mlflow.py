"""Lightning's `MLFlowLogger` with litlab's defaults: a local SQLite store, one experiment per sweep.

A sweep's jobs land in one experiment named after the sweep folder (`outputs/multirun/DATE/TIME`), single
runs in the experiment `runs`; each run is named after its overrides and tagged with its folder, and gets
the run's config as params (run.py, with the final metrics) beside the metrics logged per epoch.
"""

import importlib.util
import os
from pathlib import Path

from lightning.pytorch.loggers import MLFlowLogger as LightningMLFlowLogger

from litlab.errors import LitlabError

SINGLE_RUNS = "runs"  # the experiment of runs outside a multirun


class MLFlowLogger(LightningMLFlowLogger):
    def __init__(
        self,
        tracking_uri: str = "sqlite:///outputs/mlflow.db",
        experiment_name: str | None = None,
        run_name: str | None = None,
        **kwargs,
    ):
        if importlib.util.find_spec("mlflow") is None:
            raise LitlabError('logger=mlflow needs MLflow: pip install -c constraints.txt -e ".[mlflow]"')
        if tracking_uri.startswith("sqlite:///"):  # SQLite creates the file, not its folder
            Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        run_dir, overrides, sweep_dir = _hydra_run()
        tags = {**({"run_dir": run_dir} if run_dir else {}), **(kwargs.pop("tags", None) or {})}
        super().__init__(
            tracking_uri=tracking_uri,
            experiment_name=experiment_name or sweep_dir or SINGLE_RUNS,
            run_name=run_name or overrides or run_dir,
            tags=tags or None,
            **kwargs,
        )


def _hydra_run() -> tuple[str | None, str | None, str | None]:
    """This run's folder, its overrides in one string, and the sweep folder when it is a sweep's job."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None, None, None
    hydra = HydraConfig.get()
    run_dir = Path(hydra.runtime.output_dir)
    sweep_dir = _shown(run_dir.parent) if hydra.mode == RunMode.MULTIRUN else None
    return _shown(run_dir), " ".join(hydra.overrides.task) or None, sweep_dir


def _shown(path: Path) -> str:
    """The path as the user typed it: relative to where train.py runs, when it is below it."""
    return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
