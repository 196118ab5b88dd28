"""Fixtures shared by the tests: compose the real config as a user would, with outputs in tmp_path."""

import json
import logging
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from litlab.config.schema import register_schemas
from litlab.data.fashion_mnist import files_present

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# The typed schemas conf/*.yaml extend, as train.py registers them: every compose in the tests needs them.
register_schemas()

# Under pytest-xdist (pyproject's addopts: 2 workers for CI's 2 cores) each worker, and every process it starts,
# uses one torch thread: two workers of two threads each on two cores would wait on each other. The subprocesses
# get it through OMP_NUM_THREADS, so a run compared with a subprocess's is computed on the same thread count.
if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# Files whose tests run on one worker, one after the other in the file's order: test_readme.py's commands use what
# the earlier ones wrote in one clone folder; test_notebooks.py's notebooks share one Jupyter kernel.
IN_ORDER = {"test_readme.py", "test_notebooks.py"}


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """Each test goes to whichever worker is free, except those of an IN_ORDER file: one unit of work each.

    xdist's own `--dist loadgroup` would do it with `xdist_group` marks, but with pytest 9.2 it does not group
    (xdist 3.8 renames the test ids through an attribute pytest 9.2 no longer reads). Units are handed out
    largest first, so test_readme.py, the longest, starts at once, test_notebooks.py on the other worker.
    """
    from xdist.scheduler import LoadScopeScheduling

    class InOrderFiles(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if Path(path).name in IN_ORDER else nodeid

    return InOrderFiles(config, log)


# For a `python train.py` subprocess whose config names a class kept in tests/ (a probe callback).
TESTS_ON_PATH = {"PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}

# Short runs everywhere unless a test says otherwise: no progress bar, no sanity check.
QUICK = [
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "trainer.num_sanity_val_steps=0",
    "callbacks.progress_bar=null",
]
# A sweep of 4 Iris jobs (2 learning rates x 2 seeds) that the stacked launcher trains as one group.
IRIS_GRID = ["experiment=iris_optimizers", "optimizer.lr=0.1,0.5", "seed=0,1", *QUICK]


needs_fashion = pytest.mark.skipif(
    not files_present(ROOT / "data"),
    reason="FashionMNIST files absent: `apt-get install dataset-fashion-mnist` or put them in data/FashionMNIST/raw/",
)


@pytest.fixture
def make_cfg(tmp_path):
    """`make_cfg("data=iris", "model=softmax")` composes conf/train.yaml with those overrides."""

    def _make(*overrides: str, quick: bool = True):
        defaults = [*(QUICK if quick else []), f"paths.output_dir={tmp_path}", f"paths.data_dir={ROOT / 'data'}"]
        return compose_config("train", [*defaults, *overrides])

    yield _make
    GlobalHydra.instance().clear()


def compose_config(name: str, overrides: list[str]):
    """conf/<name>.yaml composed with `overrides` the way `@hydra.main` does it for train.py and eval.py."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(name, overrides=overrides, return_hydra_config=True)
    # Make the Hydra config (option choices, run mode) visible to the run, then drop it from the task config.
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg.hydra
    return cfg


def read_metrics(folder: Path) -> dict:
    return json.loads((Path(folder) / "metrics.json").read_text())


def run_train(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run the real `python train.py ...` entry point, as a user types it."""
    return run_script("train.py", *args, cwd=cwd, env=env, timeout=timeout)


def run_eval(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run the real `python eval.py ...` entry point."""
    return run_script("eval.py", *args, cwd=cwd, env=env, timeout=timeout)


def run_script(script: str, *args: str, cwd: Path, env: dict | None, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def run_in_process(monkeypatch, capfd):
    """`run_in_process(*args, script="train.py", cwd=..., env=...)`: what run_train returns, with the script run in
    this process through its own `if __name__ == "__main__":` (Hydra, the CLI's one-line errors, the default callbacks
    and logger), so no new interpreter imports torch and Lightning again (about 6 s of CPU each). The exit status
    is SystemExit's; an exception the script lets through (HYDRA_FULL_ERROR=1) is raised here. Tests that need a
    process of their own (signals, DDP, launchers that start processes) use run_train."""

    def _run(
        *args: str,
        script: str | Path = "train.py",
        cwd: Path = ROOT,
        env: dict | None = None,
        timeout: int | None = None,
    ) -> subprocess.CompletedProcess:  # timeout: run_train's, not used here
        path = ROOT / script
        capfd.readouterr()  # what this run prints, only
        handlers, level = _log_handlers(), logging.getLogger().level
        with monkeypatch.context() as patch:
            patch.chdir(cwd)
            patch.setattr(sys, "argv", [str(path), *args])
            for key, value in (env or {}).items():
                patch.setenv(key, value)
            GlobalHydra.instance().clear()
            HydraConfig.instance().cfg = None
            try:
                runpy.run_path(str(path), run_name="__main__")
                code = 0
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
            finally:
                GlobalHydra.instance().clear()
                # Hydra gives the root logger a console and a train.log handler per run, Optuna its logger one on the
                # stderr of this test (closed after it): removed and closed when the run ends, as a process ends them.
                for logger in _log_handlers():
                    for handler in set(logger.handlers) - set(handlers.get(logger, [])):
                        handler.close()
                    logger.handlers[:] = handlers.get(logger, [])
                logging.getLogger().setLevel(level)
        printed = capfd.readouterr()
        return subprocess.CompletedProcess([str(path), *args], code, printed.out, printed.err)

    return _run


def _log_handlers() -> dict[logging.Logger, list[logging.Handler]]:
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    return {logger: list(logger.handlers) for logger in loggers if isinstance(logger, logging.Logger)}
