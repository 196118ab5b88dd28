"""What `python train.py` prints and leaves to read: the network, the progress, the result, the folder; in a sweep
a line per job and the best setting; train.log with the overrides and final metrics; each final metric once in
TensorBoard; early stopping that says so."""

import pandas as pd
import yaml
from conftest import QUICK, read_metrics

# Printed by Lightning or TensorBoard, and of no use to a user of litlab.
NOISE = [
    "Tip:",
    "litlogger",
    "weights_only",
    "GPU available",
    "TPU available",
    "Seed set",
    "FLOPs",
    "loss_means",
    "Modules in train mode",
    "it/s",
    "`Trainer.fit` stopped",
    "Restoring states",
    "Directory watcher",
    "No path found",
]


def test_a_run_prints_its_network_progress_result_and_folder(tmp_path, run_in_process):
    """The default callbacks and logger; `python train.py data=iris` as a user runs it, two epochs."""
    result = run_in_process("data=iris", "trainer.max_epochs=2", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout + result.stderr
    assert [noise for noise in NOISE if noise in out] == []
    assert "MLP on cpu: 2.1 K parameters (2.1 K trainable)" in out
    assert [line.split()[:2] for line in out.splitlines() if line.startswith("  net.")] == [
        ["net.0", "Flatten"],
        ["net.1", "Linear"],
        ["net.2", "ReLU"],
        ["net.3", "Linear"],
    ]
    assert "train/loss:" in out  # the progress bar shows the training loss
    assert "completed, 2 epochs" in out and f"run folder: {tmp_path}" in out
    log = (tmp_path / "train.log").read_text()
    assert f"overrides: data=iris trainer.max_epochs=2 hydra.run.dir={tmp_path}" not in log  # hydra.* are Hydra's
    assert "overrides: data=iris trainer.max_epochs=2" in log
    metrics = read_metrics(tmp_path)
    assert f"completed, 2 epochs: val/acc {metrics['val/acc']:.4g}, val/loss {metrics['val/loss']:.4g}" in log


def test_each_final_metric_once_in_tensorboard(tmp_path, run_in_process):
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    assert run_in_process("data=iris", "trainer.max_epochs=2", *QUICK, f"hydra.run.dir={tmp_path}").returncode == 0
    events = EventMultiplexer().AddRunsFromDirectory(str(tmp_path / "tensorboard")).Reload()
    tags = events.Runs()["."]["scalars"]
    assert [tag for tag in tags if tag.startswith("hp/")] == []  # Lightning's log_hyperparams(metrics=) adds these
    assert (
        "test/loss" in tags and len(events.Scalars(".", "test/loss")) == 1 and len(events.Scalars(".", "val/loss")) == 2
    )
    assert "_hparams_/session_start_info" in events.PluginRunToTagToContent("hparams")["."]
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = events.PluginRunToTagToContent("hparams")["."]["_hparams_/experiment"]
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content).experiment
    names = {info.name.tag for info in experiment.metric_infos}
    assert {"val/loss", "test/loss", "test/acc"} <= names  # the tags already logged: HParams reads their values
    hparams = yaml.safe_load((tmp_path / "tensorboard" / "hparams.yaml").read_text())
    assert hparams["data._target_"].endswith("IrisDataModule") and hparams["trainer.max_epochs"] == 2


def test_early_stopping_says_why(tmp_path, run_in_process):
    result = run_in_process(
        "data=iris",
        "callbacks=early_stopping",
        "callbacks.early_stopping.patience=2",
        "trainer.max_epochs=300",
        *QUICK,
        f"hydra.run.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = read_metrics(tmp_path)
    assert metrics["epochs"] < 300
    stopped = metrics["stopped_early"]
    assert stopped["reason"] == "patience_exhausted" and stopped["monitor"] == "val/loss" and stopped["patience"] == 2
    assert stopped["message"].startswith("Monitored metric val/loss did not improve in the last 2 records")
    assert f"completed, {metrics['epochs']} epochs, stopped early" in result.stdout
    assert "stopped early on val/loss with patience 2: Monitored metric val/loss did not improve" in result.stdout


def test_a_sweep_prints_a_line_per_job_then_its_best_setting(tmp_path, run_in_process):
    """Four jobs in the order the sweep lists them (sgd before adam); a link per job named after its settings."""
    result = run_in_process(
        "-m", "data=iris", "trainer.max_epochs=1", "optimizer=sgd,adam", "seed=0,1", f"hydra.sweep.dir={tmp_path}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout + result.stderr
    assert [noise for noise in NOISE if noise in out] == []
    lines = out.splitlines()
    assert len([line for line in lines if "completed, 1 epochs: val/acc" in line]) == 4
    assert lines[-2].split("] ", 1)[1].startswith("best by val/loss (mean over 2 seeds): optimizer=")
    assert lines[-1].endswith(
        f"report: {tmp_path}/report.md (figures beside it; tensorboard --logdir {tmp_path}/tensorboard)"
    )
    assert len(lines) == 1 + 2 * 4 + 2  # Launching, then per job its overrides and result, then the best and the report
    assert list(pd.read_csv(tmp_path / "report_by_seed.csv")["optimizer"]) == ["sgd", "adam"]
    links = {p.name: p.resolve() for p in (tmp_path / "tensorboard").iterdir() if p.is_symlink()}
    assert links == {
        f"optimizer={opt},seed={seed}": (tmp_path / str(job) / "tensorboard").resolve()
        for job, (opt, seed) in enumerate([("sgd", 0), ("sgd", 1), ("adam", 0), ("adam", 1)])
    }
