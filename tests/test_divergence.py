"""A loss that becomes NaN or infinite stops the run at that step, recorded as `diverged`; a sweep goes on."""

import json

import pytest

from conftest import read_metrics, run_train
from litlab.callbacks.divergence import Diverged
from litlab.run import train

HUGE_LR = "optimizer.lr=1e12"


def test_huge_learning_rate_stops_with_diverged(make_cfg, tmp_path):
    cfg = make_cfg("data=iris", "model=mlp", HUGE_LR, "trainer.max_epochs=5")
    with pytest.raises(Diverged) as stopped:
        train(cfg)
    metrics = read_metrics(tmp_path)
    assert metrics["status"] == "diverged"
    assert metrics["epoch"] == stopped.value.epoch and metrics["step"] == stopped.value.step
    assert stopped.value.epoch < 5 and stopped.value.step < 5 * 5   # stopped early, not after 5 epochs of NaN
    message = str(stopped.value)
    assert f"at epoch {stopped.value.epoch}, step {stopped.value.step}" in message
    assert "try a smaller learning rate, e.g. optimizer.lr (now 1e+12) divided by 10" in message
    assert not list((tmp_path / "checkpoints").glob("*.ckpt")) or stopped.value.epoch > 0   # no NaN checkpoint


def test_multirun_goes_on_after_a_diverging_job(tmp_path):
    result = run_train("-m", "data=iris", "model=mlp", "optimizer.lr=0.1,1e12,0.05", "trainer.max_epochs=3",
                       "callbacks.progress_bar=null", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    statuses = [json.loads((tmp_path / str(job) / "metrics.json").read_text())["status"] for job in range(3)]
    assert statuses == ["completed", "diverged", "completed"]
    assert "the training loss became" in result.stdout + result.stderr
