"""Multiruns through the real `python train.py -m ...`: grid, joblib, Optuna; each ends with its report."""

import pandas as pd
import pytest
from conftest import CONF, QUICK, read_metrics, run_train
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

TINY = ["data=iris", "trainer.max_epochs=2"]


def sweep(run, tmp_path, *args: str):
    """`python train.py -m ARGS` into tmp_path, through `run`: run_in_process, or run_train for a process."""
    result = run("-m", *args, f"hydra.sweep.dir={tmp_path}", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_grid_sweep_with_a_failing_job_reports_all(tmp_path, run_in_process):
    """model=linreg cannot fit Iris: those jobs fail, the others complete, and the report shows both."""
    result = sweep(run_in_process, tmp_path, *TINY, *QUICK, "model=softmax,linreg", "optimizer.lr=0.01,0.1", "seed=0,1")
    table = pd.read_csv(tmp_path / "report.csv")
    assert len(table) == 8 and {"model", "optimizer.lr", "seed"} <= set(table.columns)
    failed, done = table[table["model"] == "linreg"], table[table["model"] == "softmax"]
    assert (failed["status"] == "failed").all() and failed["error"].str.contains("does not fit data=iris").all()
    assert (done["status"] == "completed").all() and done["test/acc"].between(0, 1).all()
    for job in done["job"]:
        assert read_metrics(tmp_path / str(job))["status"] == "completed"
    grouped = pd.read_csv(tmp_path / "report_by_seed.csv")  # the two seeds of each setting, as mean and std
    softmax = grouped[(grouped["model"] == "softmax") & (grouped["optimizer.lr"] == 0.1)].iloc[0]
    runs = done[done["optimizer.lr"] == 0.1]["test/loss"]
    assert softmax["runs"] == "2/2" and softmax["test/loss mean"] == pytest.approx(runs.mean())
    assert softmax["test/loss std"] == pytest.approx(runs.std())
    assert "best by val/loss (mean over 2 seeds): model=softmax optimizer.lr=" in result.stdout  # the best setting
    assert "**failed**" in (tmp_path / "report.md").read_text()
    for png in ("metrics_vs_model.png", "metrics_vs_optimizer_lr.png", "learning_curves.png"):
        assert (tmp_path / png).stat().st_size > 10_000
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_joblib_launcher_runs_lightning_jobs_in_parallel(tmp_path):
    """Two jobs in joblib's loky worker processes, with the rich progress bar left on."""
    # A process of its own, as test_readme.py runs every launcher that starts processes.
    sweep(run_train, tmp_path, *TINY, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "optimizer=sgd,adam")
    for job in ("0", "1"):
        metrics = read_metrics(tmp_path / job)
        assert metrics["status"] == "completed" and metrics["epochs"] == 2
    table = pd.read_csv(tmp_path / "report.csv")
    assert list(table["optimizer"]) == ["sgd", "adam"] and (tmp_path / "learning_curves.png").exists()


def test_optuna_search_survives_a_failed_trial(tmp_path, run_in_process):
    """sweep=mlp_search shortened to 3 trials on Iris; with the sampler's seed 42 trial 1 draws the bad activation."""
    sweep(
        run_in_process,
        tmp_path,
        "sweep=mlp_search",
        *TINY,
        *QUICK,
        "hydra.sweeper.n_trials=3",
        "model.activation=choice(relu,bogus)",
    )
    table = pd.read_csv(tmp_path / "report.csv")
    assert len(table) == 3
    assert set(table["status"]) == {"completed", "failed"}  # the failed trial did not end the study
    assert (table["status"] == "failed").sum() == (table["model.activation"] == "bogus").sum()
    results = (tmp_path / "optimization_results.yaml").read_text()
    assert "best_value" in results and "activation: relu" in results
    assert "Optuna's best trial" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "metrics_vs_optimizer_lr.png").exists()


def test_a_search_whose_every_trial_fails_still_reports_them_in_one_line(tmp_path, run_in_process):
    result = run_in_process(
        "-m",
        "sweep=mlp_search",
        *TINY,
        *QUICK,
        "hydra.sweeper.n_trials=2",
        "model.activation=bogus",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: every trial of the search failed; each job's metrics.json says why, "
        f"and {tmp_path}/report.md lists them"
    )
    assert "Traceback" not in result.stderr
    table = pd.read_csv(tmp_path / "report.csv")
    assert list(table["status"]) == ["failed", "failed"]
    assert "- job 1: **failed**" in (tmp_path / "report.md").read_text()


PRESETS = sorted(path.stem for path in (CONF / "sweep").glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS)
def test_sweep_preset_sweeps_keys_that_exist(preset):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"sweep={preset}"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    assert cfg.hydra.sweeper.params, f"sweep={preset} sweeps nothing"
    for key in cfg.hydra.sweeper.params:
        assert OmegaConf.select(cfg, key) is not None, f"sweep={preset}: {key} is not a config key"
    if preset == "mlp_search":
        assert cfg.hydra.sweeper.direction == "maximize" and cfg.optimized_metric == "val/acc"
        assert cfg.hydra.sweeper.sampler.seed is not None and cfg.hydra.sweeper.n_trials >= 10
