"""One folder per run, always: runs and sweeps started in the same second never share one; a run's
metrics.json says `running` while it trains, and a run killed outright is listed as unfinished."""

import json
import os
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import lightning as L
import yaml
from conftest import QUICK, ROOT, TESTS_ON_PATH, read_metrics, run_train

from litlab.report import load_runs
from litlab.run import train
from litlab.run_dir import unique_dir

TINY = ["data=iris", "trainer.max_epochs=1", *QUICK]


def test_a_taken_name_gets_the_next_free_suffix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    claims = [unique_dir("outputs/runs/2026-01-31/12-00-00") for _ in range(3)]
    assert claims == [
        "outputs/runs/2026-01-31/12-00-00",
        "outputs/runs/2026-01-31/12-00-00_1",
        "outputs/runs/2026-01-31/12-00-00_2",
    ]
    assert all(Path(c).is_dir() for c in claims)


def test_runs_and_sweeps_started_in_the_same_second_get_folders_of_their_own(tmp_path):
    """Three runs and two sweeps at once, while every clock name of the next minutes is already taken by another
    run (so each must move to a suffix); each folder holds its own config, log, checkpoints and metrics."""
    now = datetime.now()
    theirs = []
    for second in range(300):
        folder = tmp_path / "outputs" / "runs" / (now + timedelta(seconds=second)).strftime("%Y-%m-%d/%H-%M-%S")
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text('{"status": "completed", "theirs": true}')
        theirs.append(folder)

    models = ["model=softmax", "model=mlp", "model=mlp model.hidden=[8]"]
    runs = [_start(cwd=tmp_path, args=[*TINY, *m.split()]) for m in models]
    sweeps = [_start(cwd=tmp_path, args=["-m", *TINY, f"optimizer.lr={lrs}"]) for lrs in ("0.1,0.2", "0.3,0.4")]
    for process in runs + sweeps:
        out, err = process.communicate(timeout=900)
        assert process.returncode == 0, err[-3000:]

    for folder in theirs:  # nothing of theirs overwritten
        assert json.loads((folder / "metrics.json").read_text()) == {"status": "completed", "theirs": True}
        assert sorted(p.name for p in folder.iterdir()) == ["metrics.json"]
    ours = sorted(p for p in (tmp_path / "outputs" / "runs").glob("*/*") if p not in theirs)
    assert len(ours) == 3 and all("_" in p.name for p in ours)
    typed = sorted(yaml.safe_load((p / ".hydra" / "overrides.yaml").read_text()) for p in ours)
    assert typed == sorted([*TINY, *m.split()] for m in models)
    for folder in ours:
        assert read_metrics(folder)["status"] == "completed"
        assert (folder / "train.log").is_file() and (folder / "run.json").is_file()
        assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["epoch000.ckpt", "last.ckpt"]
        events = list((folder / "tensorboard").glob("events.out.tfevents.*"))
        assert len({e.name.split(".")[-2] for e in events}) == 1  # written by one process: the writer's pid

    sweep_dirs = sorted((tmp_path / "outputs" / "multirun").glob("*/*"))
    assert len(sweep_dirs) == 2
    learning_rates = set()
    for sweep in sweep_dirs:
        table, swept = load_runs(sweep)
        assert swept == ["optimizer.lr"] and list(table["status"]) == ["completed", "completed"]
        learning_rates |= set(table["optimizer.lr"])
    assert learning_rates == {0.1, 0.2, 0.3, 0.4}


def _start(cwd: Path, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "LITLAB_DATA_DIR": str(ROOT / "data")},
    )


class ReadMetricsWhileTraining(L.Callback):
    def __init__(self, folder: Path):
        self.folder, self.seen = folder, None

    def on_train_epoch_end(self, trainer, pl_module):
        self.seen = read_metrics(self.folder)


def test_metrics_json_says_running_while_the_run_trains(make_cfg, tmp_path, monkeypatch):
    probe = ReadMetricsWhileTraining(tmp_path)
    from litlab import run

    build_trainer = run.build_trainer
    monkeypatch.setattr(run, "build_trainer", lambda cfg: _with_callback(build_trainer(cfg), probe))
    train(make_cfg("data=iris", "trainer.max_epochs=1"))
    assert probe.seen["status"] == "running"
    assert probe.seen["pid"] == os.getpid() and probe.seen["host"] == socket.gethostname()
    assert datetime.fromisoformat(probe.seen["started"]) <= datetime.now()
    assert read_metrics(tmp_path)["status"] == "completed" and "pid" not in read_metrics(tmp_path)


def _with_callback(trainer: L.Trainer, callback: L.Callback) -> L.Trainer:
    trainer.callbacks.append(callback)
    return trainer


def test_a_run_killed_outright_is_listed_as_unfinished(tmp_path):
    """SIGKILL leaves no chance to write a result: the report tells the killed job from one that never started."""
    killed = run_train(
        "-m",
        "data=iris",
        "trainer.max_epochs=5",
        *QUICK,
        "optimizer.lr=0.1,0.2",
        "+callbacks.kill._target_=interrupting.KillAt",
        "+callbacks.kill.step=3",
        f"hydra.sweep.dir={tmp_path}",
        env=TESTS_ON_PATH,
    )
    assert killed.returncode == -9
    # A job that never started: its folder and overrides, nothing else.
    overrides = (tmp_path / "0" / ".hydra" / "overrides.yaml").read_text()
    (tmp_path / "1" / ".hydra").mkdir(parents=True)
    (tmp_path / "1" / ".hydra" / "overrides.yaml").write_text(overrides.replace("optimizer.lr=0.1", "optimizer.lr=0.2"))
    table, _ = load_runs(tmp_path)
    assert list(table["status"]) == ["unfinished", "no metrics.json"]
    assert "ended without a result (killed?)" in table["error"][0] and f"resume={tmp_path / '0'}" in table["error"][0]
    assert read_metrics(tmp_path / "0")["status"] == "running"
