"""`hydra.launcher.resume=true`: a stacked sweep that stopped is run again into its folder; what finished stays."""

import json
import shutil

import pytest
from conftest import IRIS_GRID, read_metrics

SWEEP = [*IRIS_GRID, "trainer.max_epochs=3"]


def test_a_resumed_sweep_keeps_finished_jobs_and_completes_the_others(run_in_process, tmp_path):
    args = ["-m", *SWEEP, "hydra/launcher=stacked", f"hydra.sweep.dir={tmp_path}", "~hydra.callbacks.sweep_report"]
    first = run_in_process(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    before = {job: read_metrics(tmp_path / str(job)) for job in range(4)}
    stamps = {job: (tmp_path / str(job) / "metrics.json").stat().st_mtime_ns for job in (0, 1)}
    # Job 2 never started; job 3 stopped after its last checkpoint, before its metrics.json was final.
    shutil.rmtree(tmp_path / "2")
    metrics = tmp_path / "3" / "metrics.json"
    metrics.write_text(json.dumps({**before[3], "status": "interrupted"}))

    again = run_in_process(*args, "hydra.launcher.resume=true")
    log = again.stdout + again.stderr
    assert again.returncode == 0, log[-3000:]
    assert "2 jobs finished before, 1 continue from their last.ckpt" in log
    for job in (0, 1):  # left as they were
        assert (tmp_path / str(job) / "metrics.json").stat().st_mtime_ns == stamps[job]
    for job in (2, 3):  # trained (2) or continued (3) to the end the uninterrupted sweep reached
        after = read_metrics(tmp_path / str(job))
        assert after["status"] == "completed" and after["epochs"] == before[job]["epochs"]
        assert after["test/loss"] == pytest.approx(before[job]["test/loss"], rel=1e-4)
