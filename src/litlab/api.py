"""litlab from Python and Jupyter: `litlab.train(...)` and `litlab.sweep(...)`, twins of `python train.py [-m] ...`.

    import litlab
    result = litlab.train("model=mlp", "optimizer=rmsprop", "trainer.max_epochs=5")
    result.metrics["test/acc"], result.history, result.run_dir, result.network, result.config
    study = litlab.sweep("data=iris", "optimizer=sgd,adam", "seed=0,1,2")
    study.table, study.by_seed, study.dir, study.figures

Both hand the overrides to Hydra itself, `Hydra.run` and `Hydra.multirun` (what `@hydra.main` calls for
train.py), with conf/train.yaml and the schemas: the config, its checks, the run or sweep folder and all
that is written into it are the CLI's; the sweepers, launchers and the sweep report too. Bad input raises
`LitlabError` with the line the CLI prints after `error:`. Each call sets up Hydra's global state and
clears it at the end, leaves the working directory alone (outputs/ is relative to it, as for the CLI),
and removes the log handlers Hydra adds for a run (console and train.log) when the run ends.
"""

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from litlab.cli import explain, failed_search, resume_arguments
from litlab.config.schema import register_schemas
from litlab.errors import LitlabError

# conf/ of the checkout this litlab comes from (`make setup` installs it editable), as train.py uses it.
CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"
LAUNCHERS = ("basic", "joblib", "submitit_local", "slurm")  # hydra/launcher options: Hydra's plugins and conf/


@dataclass
class TrainResult:
    """One run of `litlab.train`: what `python train.py` leaves in its folder, and the trained network."""

    metrics: dict  # metrics.json: status, epochs, best_checkpoint and every final metric
    run_dir: Path  # the run folder (.hydra/, train.log, run.json, metrics.json, checkpoints/, logger files)
    history: Any  # pandas DataFrame: one row per epoch, every metric logged per epoch
    network: Any  # the trained torch.nn.Module, with the weights that were tested (the best checkpoint's)
    config: DictConfig  # the run's composed config, resolved

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.metrics.items() if k.startswith(("test/", "val/"))}
        numbers = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())
        status, epochs = self.metrics.get("status"), self.metrics.get("epochs")
        return f"TrainResult({status}, {epochs} epochs, {numbers}, run_dir={self.run_dir})"


@dataclass
class SweepResult:
    """One multirun of `litlab.sweep`: its report as tables and the figures written into its folder."""

    dir: Path  # the sweep folder: job folders 0/, 1/, ... and the report
    table: Any  # report.csv as a DataFrame: one row per job, swept keys, status, final metrics (and error)
    by_seed: Any = None  # report_by_seed.csv when seed is swept: mean and std of each setting, else None
    figures: list[Path] = field(default_factory=list)  # metrics_vs_<key>.png, learning_curves.png

    @property
    def failed(self):
        """The jobs whose status is not `completed`, with their error."""
        return self.table[self.table["status"] != "completed"]

    def show(self) -> None:
        """Display the figures (in a notebook: inline)."""
        from IPython.display import Image, display

        for path in self.figures:
            display(Image(filename=str(path)))

    def __repr__(self) -> str:
        return f"SweepResult({len(self.table)} jobs, {len(self.failed)} not completed, dir={self.dir})"


def train(*overrides: str, config_dir: str | Path | None = None) -> TrainResult:
    """`python train.py OVERRIDES...` in this process: `train("data=iris", "model=softmax")`.

    Raises `LitlabError` for bad input (and for a run that diverged: its metrics.json says so),
    KeyboardInterrupt when interrupted (metrics.json then names the `resume=` command).
    """
    overrides = _overrides(overrides)
    with _hydra(config_dir) as hydra:
        try:
            job = hydra.run("train", _train_job, [*overrides, "hydra.mode=RUN"])  # as train.py's Hydra adds it
        except SystemExit as stop:
            raise _interrupted(stop) from None
    outcome = job.return_value
    if "error" in outcome:
        raise outcome["error"]
    run_dir = Path(outcome["run_dir"])
    return TrainResult(
        metrics=_read_json(run_dir / "metrics.json"),
        run_dir=run_dir,
        history=outcome["history"],
        network=outcome["network"],
        config=outcome["config"],
    )


def _train_job(cfg: DictConfig) -> dict:
    """The task Hydra runs for `train`: train.py's, raising instead of exiting."""
    from litlab import run
    from litlab.callbacks.history import history_of

    run.setup_logging()
    try:
        outcome = run.fit(cfg)
    except Exception as error:  # raised by `train` itself: leaving the task, Hydra would print "Error executing job"
        return {"error": error}
    return {
        "run_dir": cfg.paths.output_dir,
        "history": history_of(outcome.trainer),
        "network": outcome.system.network,
        "config": OmegaConf.create(OmegaConf.to_container(cfg, resolve=True)),
    }


def sweep(*overrides: str, launcher: str | None = None, config_dir: str | Path | None = None) -> SweepResult:
    """`python train.py -m OVERRIDES...` in this process: `sweep("optimizer=sgd,adam", "seed=0,1,2")`.

    launcher: `joblib` (jobs in parallel worker processes, `hydra.launcher.n_jobs=N`), `submitit_local`,
    `slurm`, or None for Hydra's basic launcher (one job after the other, in this process). Each job is
    logged as it starts; a failed job does not stop the sweep: it is marked in the table, as in the report.
    """
    if launcher is not None:
        if launcher not in LAUNCHERS:
            raise LitlabError(f"launcher={launcher!r}: use one of {', '.join(LAUNCHERS)}")
        overrides = (*overrides, f"hydra/launcher={launcher}")
    overrides = [*_overrides(overrides), "hydra.mode=MULTIRUN"]  # what `-m` adds
    with _hydra(config_dir) as hydra:
        # Hydra resolves hydra.sweep.dir when it launches; resolve it once here and hand it over, so the
        # sweep's folder is known (and, for a resolver that claims a new folder, claimed once).
        composed = hydra.compose_config("train", overrides, run_mode=RunMode.MULTIRUN, with_log_configuration=False)
        sweep_dir = Path(str(composed.hydra.sweep.dir)).absolute()
        quoted = str(sweep_dir).replace("'", "\\'")  # a comma in a path would make a sweep of it
        try:
            hydra.multirun("train", _sweep_job, [*overrides, f"hydra.sweep.dir='{quoted}'"])
        except ValueError as error:  # Optuna, when every trial failed
            message = failed_search(error)
            if message is None:
                raise
            raise LitlabError(message) from None
        except SystemExit as stop:
            raise _interrupted(stop) from None
    return _sweep_result(sweep_dir)


def _sweep_job(cfg: DictConfig) -> float | None:
    """The task of each sweep job: train.py's (a failed job is recorded and the sweep goes on)."""
    from litlab.run import main

    return main(cfg)


def _sweep_result(sweep_dir: Path) -> SweepResult:
    from litlab.report import SEED, grouped_over, load_runs

    table, swept = load_runs(sweep_dir)
    failed = table[table["status"] != "completed"]
    if len(failed):
        logging.getLogger("litlab").warning(
            "%d of %d jobs did not complete: see .failed or %s/report.md", len(failed), len(table), sweep_dir
        )
    by_seed = grouped_over(table, swept, (SEED,)) if SEED in swept else None
    return SweepResult(dir=sweep_dir, table=table, by_seed=by_seed, figures=sorted(sweep_dir.glob("*.png")))


def _interrupted(stop: SystemExit) -> KeyboardInterrupt:
    """run.py ends an interrupted fit (Ctrl-C, the notebook's stop button, SIGTERM) with SystemExit."""
    return KeyboardInterrupt(f"interrupted (exit status {stop.code}); the run's metrics.json names the resume= command")


def _overrides(overrides: tuple) -> list[str]:
    for override in overrides:
        if not isinstance(override, str):
            raise LitlabError(
                f'{override!r}: each override is a string, as typed after `python train.py`, e.g. "optimizer.lr=0.1"'
            )
    return resume_arguments(list(overrides))


@contextlib.contextmanager
def _hydra(config_dir: str | Path | None) -> Iterator[Any]:
    """Hydra set up for conf/train.yaml as train.py has it (job name `train`: train.log); all cleared after."""
    config_dir = Path(config_dir or CONFIG_DIR).absolute()
    if not (config_dir / "train.yaml").is_file():
        raise LitlabError(f"{config_dir}: no train.yaml here; give config_dir=the conf/ folder of a litlab checkout")
    register_schemas()
    GlobalHydra.instance().clear()
    hydra_cfg = HydraConfig.instance().cfg
    HydraConfig.instance().cfg = None  # a stale one would tell the run-folder resolver this run has a folder already
    try:
        with _log_handlers_restored(), initialize_config_dir(str(config_dir), job_name="train", version_base="1.3"):
            yield GlobalHydra.instance().hydra
    except (HydraException, MissingMandatoryValue) as error:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        raise LitlabError(explain(error) or str(error)) from None
    finally:
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = hydra_cfg


@contextlib.contextmanager
def _log_handlers_restored() -> Iterator[None]:
    """The root logger's handlers and level as they were: Hydra replaces them for each run."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()  # train.log is complete
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)


def _read_json(path: Path) -> dict:
    import json

    return json.loads(path.read_text())
