"""litlab from Python: `litlab.train` and `litlab.sweep` give what `python train.py [-m]` gives, in this process."""

import logging
import os
import re
import subprocess
import sys

import pytest
import torch
from conftest import QUICK, needs_fashion, read_metrics
from doc_pages import documentation
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

import litlab
from litlab import api
from litlab.callbacks import live_plot

IRIS = ["data=iris", "trainer.max_epochs=3"]


def test_import_litlab_loads_neither_lightning_nor_hydra():
    code = "import sys, litlab; print(sorted(m for m in ('lightning', 'torch', 'hydra') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert callable(litlab.train) and callable(litlab.sweep)


def test_train_writes_the_run_folder_train_py_writes(tmp_path, run_in_process):
    """Default callbacks and logger; the same overrides through `python train.py` give the same metrics.json."""
    cwd, handlers = os.getcwd(), list(logging.getLogger().handlers)
    result = litlab.train(*IRIS, f"hydra.run.dir={tmp_path / 'api'}")
    assert result.run_dir == tmp_path / "api"
    for name in (
        ".hydra/config.yaml",
        ".hydra/overrides.yaml",
        "train.log",
        "run.json",
        "metrics.json",
        "checkpoints/last.ckpt",
    ):
        assert (result.run_dir / name).is_file(), name
    assert list((result.run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert OmegaConf.load(result.run_dir / ".hydra/overrides.yaml") == IRIS  # the overrides, as typed
    log = (result.run_dir / "train.log").read_text()
    assert f"overrides: {' '.join(IRIS)}" in log and "on cpu:" in log  # the network's summary
    assert result.metrics == read_metrics(result.run_dir) and result.metrics["status"] == "completed"
    # Nothing left behind in this process: working directory, Hydra's global state, log handlers.
    assert os.getcwd() == cwd and not GlobalHydra.instance().is_initialized()
    assert logging.getLogger().handlers == handlers
    # The same run through train.py's own __main__: the same numbers (CPU runs are deterministic).
    cli = run_in_process(*IRIS, f"hydra.run.dir={tmp_path / 'cli'}")
    assert cli.returncode == 0, cli.stderr[-2000:]
    expected = {k: v for k, v in read_metrics(tmp_path / "cli").items() if k != "best_checkpoint"}
    assert {k: v for k, v in result.metrics.items() if k != "best_checkpoint"} == pytest.approx(expected)


def test_train_returns_history_network_and_config(tmp_path):
    result = litlab.train(*IRIS, "model=softmax", *QUICK, f"hydra.run.dir={tmp_path}")
    history = result.history
    assert list(history["epoch"]) == [0, 1, 2]
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "params/weight_norm", "lr-SGD/pg1"} <= set(
        history.columns
    )
    last = history.iloc[-1]  # metrics.json's train and val values are the last epoch's
    for key in ("train/loss", "train/acc", "val/loss", "val/acc", "params/weight_norm"):
        assert last[key] == pytest.approx(result.metrics[key]), key
    assert history["train/loss"].is_monotonic_decreasing
    assert result.config.model._target_ == "litlab.models.softmax.SoftmaxRegression"
    assert result.config.paths.output_dir == str(tmp_path)  # resolved: usable after the run
    assert result.network(torch.zeros(5, 4)).shape == (5, 3)  # 4 Iris features in, 3 classes out
    # Again, in the same process, with other overrides: Hydra's state was cleared.
    again = litlab.train(*IRIS, "model=softmax", "seed=1", *QUICK, f"hydra.run.dir={tmp_path / 'again'}")
    assert again.metrics["train/loss"] != result.metrics["train/loss"] and again.config.seed == 1


def test_history_leaves_val_empty_in_epochs_without_validation(tmp_path):
    result = litlab.train(
        *IRIS, "trainer.max_epochs=4", "trainer.check_val_every_n_epoch=2", *QUICK, f"hydra.run.dir={tmp_path}"
    )
    assert result.history["val/loss"].isna().tolist() == [True, False, True, False]
    assert result.history["train/loss"].notna().all()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["optimizer.lrr=0.1"],
            "optimizer.lrr is not a key; did you mean optimizer.lr?\n"
            "keys of optimizer: lr, momentum, dampening, nesterov",
        ),
        (["optimizer.lr=fast"], "optimizer.lr=fast is not allowed: optimizer.lr takes a number"),
        (["model=mlpp"], "model=mlpp is not an option; did you mean model=mlp? options of model: linreg, mlp, softmax"),
        (
            ["data=iris", "model.dropout=1.0"],
            "model.dropout=1.0 is not allowed: dropout must be in [0, 1) (every entry)",
        ),
        (
            ["data=iris", "model=linreg"],
            "model=linreg does not fit data=iris (classification); models that fit it: mlp, softmax",
        ),
        (
            ["callbacks.live_plot.enabled=maybe"],
            "callbacks.live_plot.enabled=maybe is not allowed: enabled must be one of auto, True, False",
        ),
    ],
)
def test_bad_input_raises_the_cli_message(tmp_path, capsys, overrides, message):
    with pytest.raises(litlab.LitlabError) as error:
        litlab.train(*overrides, f"hydra.run.dir={tmp_path}")
    assert str(error.value) == message
    assert "Error executing job" not in capsys.readouterr().err


def test_sweep_returns_the_report_and_marks_failed_jobs(tmp_path, capfd):
    """model=linreg cannot fit Iris: its jobs fail, the sweep goes on, and the table says why."""
    study = litlab.sweep(
        "data=iris", "trainer.max_epochs=2", *QUICK, "model=softmax,linreg", "seed=0,1", f"hydra.sweep.dir={tmp_path}"
    )
    printed = capfd.readouterr().out
    assert "Directory watcher" not in printed and "No path found" not in printed  # TensorBoard's reader, for the report
    assert f"report: {tmp_path}/report.md" in printed
    assert study.dir == tmp_path
    table = study.table
    assert list(table["job"]) == ["0", "1", "2", "3"] and list(table["model"]) == ["softmax"] * 2 + ["linreg"] * 2
    assert list(study.failed["job"]) == ["2", "3"] and study.failed["error"].str.contains("does not fit").all()
    for _, row in table[table["status"] == "completed"].iterrows():
        assert row["test/loss"] == pytest.approx(read_metrics(tmp_path / row["job"])["test/loss"])
    assert list(study.by_seed["runs"]) == ["2/2", "0/2"]  # softmax, then linreg: the order the sweep lists them
    assert {p.name for p in study.figures} == {"learning_curves.png", "metrics_vs_model.png"}
    assert (tmp_path / "report.md").is_file()


def test_live_plot_draws_one_figure_updated_each_epoch_and_hides_the_bar(tmp_path, monkeypatch, capsys):
    """As in a notebook (tests/test_notebooks.py runs one): one display, updated in place, no progress bar."""
    shown = []

    class Handle:
        def update(self, image):
            shown.append(("update", image))

    def display(image, display_id=None):
        shown.append(("display", image))
        return Handle()

    monkeypatch.setattr("IPython.display.display", display)
    monkeypatch.setattr(live_plot, "in_notebook", lambda: True)
    monkeypatch.setattr(live_plot, "REDRAW_EVERY_S", 0.0)
    result = litlab.train(*IRIS, "trainer.enable_model_summary=false", f"hydra.run.dir={tmp_path}")
    assert [kind for kind, _ in shown] == ["display", "update", "update"]
    assert all(image.data.startswith(b"\x89PNG") for _, image in shown)
    assert result.metrics["status"] == "completed"
    assert "Epoch " not in capsys.readouterr().out  # the rich bar prints `Epoch 2/2 ━━━ 5/5 ...` when on


def test_live_plot_is_off_outside_a_notebook(make_cfg):
    from litlab.run import build_trainer

    assert not live_plot.in_notebook()
    trainer = build_trainer(make_cfg("data=iris"))
    plot = next(c for c in trainer.callbacks if isinstance(c, live_plot.LivePlot))
    plot.setup(trainer, None, "fit")
    assert plot.enabled == "auto" and not plot.active


def test_mlflow_logger_puts_a_sweep_in_one_experiment(tmp_path):
    """logger=mlflow: each job a run in the experiment named after the sweep, read back through MLflow's client."""
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep_dir = tmp_path / "sweep"
    study = litlab.sweep(
        "data=iris",
        "trainer.max_epochs=2",
        *QUICK,
        "optimizer=sgd,adam",
        "logger=mlflow",
        f"logger.tracking_uri={uri}",
        f"hydra.sweep.dir={sweep_dir}",
        "~hydra.callbacks.sweep_report",
    )
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(str(sweep_dir))
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time"])
    assert len(runs) == 2
    for run, (_, job) in zip(runs, study.table.iterrows()):
        assert run.info.status == "FINISHED" and run.data.tags["run_dir"] == str(sweep_dir / job["job"])
        assert (
            run.data.params["optimizer._target_"]
            == {"sgd": "torch.optim.SGD", "adam": "torch.optim.Adam"}[job["optimizer"]]
        )
        assert run.data.metrics["test/acc"] == pytest.approx(job["test/acc"])
        epochs = client.get_metric_history(run.info.run_id, "val/loss")
        assert len(epochs) == 2  # one value per epoch


@needs_fashion
def test_documented_python_examples_run(tmp_path, monkeypatch):
    """The ```python blocks of README.md and the docs pages, as written, each run shortened, its folder in tmp_path."""
    blocks = [block for page in documentation() for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.S)]
    assert blocks
    short = [
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2",
        *QUICK,
    ]
    train, sweep = api.train, api.sweep
    names = {}
    for number, block in enumerate(blocks):  # each block's runs in folders of their own
        run, study = tmp_path / f"run{number}", tmp_path / f"sweep{number}"
        monkeypatch.setattr(api, "train", lambda *o, run=run: train(*o, *short, f"hydra.run.dir={run}"))
        monkeypatch.setattr(
            api, "sweep", lambda *o, study=study, **k: sweep(*o, *short, f"hydra.sweep.dir={study}", **k)
        )
        exec(block, names)
    assert names["result"].metrics["status"] == "completed" and len(names["result"].history) == 1
    assert len(names["study"].table) == 6 and list(names["study"].by_seed["runs"]) == ["3/3", "3/3"]


def test_a_diverged_run_raises_and_its_metrics_say_so(tmp_path):
    with pytest.raises(litlab.LitlabError, match="the run diverged"):
        litlab.train("data=iris", "optimizer.lr=1e12", *QUICK, f"hydra.run.dir={tmp_path}")
    assert read_metrics(tmp_path)["status"] == "diverged"
