"""A loss that becomes NaN or infinite stops the run at that step, recorded as `diverged`; a sweep goes on."""

import json
import math
from types import SimpleNamespace

import pytest
import torch
from conftest import read_metrics

from litlab.callbacks.divergence import Diverged, StopOnDivergence
from litlab.run import train

HUGE_LR = "optimizer.lr=1e12"


def test_huge_learning_rate_stops_with_diverged(make_cfg, tmp_path):
    cfg = make_cfg("data=iris", "model=mlp", HUGE_LR, "trainer.max_epochs=5")
    with pytest.raises(Diverged) as stopped:
        train(cfg)
    metrics = read_metrics(tmp_path)
    assert metrics["status"] == "diverged"
    assert metrics["epoch"] == stopped.value.epoch and metrics["step"] == stopped.value.step
    assert stopped.value.epoch < 5 and stopped.value.step < 5 * 5  # stopped early, not after 5 epochs of NaN
    message = str(stopped.value)
    assert f"at epoch {stopped.value.epoch}, step {stopped.value.step}" in message
    assert "try a smaller learning rate, e.g. optimizer.lr (now 1e+12) divided by 10" in message
    assert not list((tmp_path / "checkpoints").glob("*.ckpt")) or stopped.value.epoch > 0  # no NaN checkpoint


def test_multirun_goes_on_after_a_diverging_job(tmp_path, run_in_process):
    result = run_in_process(
        "-m",
        "data=iris",
        "model=mlp",
        "optimizer.lr=0.1,1e12,0.05",
        "trainer.max_epochs=3",
        "callbacks.progress_bar=null",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    statuses = [json.loads((tmp_path / str(job) / "metrics.json").read_text())["status"] for job in range(3)]
    assert statuses == ["completed", "diverged", "completed"]
    assert "the training loss became" in result.stdout + result.stderr


def test_losses_checked_in_groups_still_name_the_first_bad_step():
    """The losses stay on the device and are read once per `check_every` steps (no wait for a GPU per step)."""
    stop = StopOnDivergence(check_every=4)
    trainer = SimpleNamespace(global_step=0, current_epoch=2, optimizers=[])
    for step, loss in enumerate([1.0, 0.5, float("nan"), float("inf")]):
        trainer.global_step = 100 + step + 1  # Lightning counts the step's update before on_train_batch_end
        if step < 3:
            stop.on_train_batch_end(trainer, None, {"loss": torch.tensor(loss)}, None, step)  # not read yet
    with pytest.raises(Diverged) as stopped:
        stop.on_train_batch_end(trainer, None, {"loss": torch.tensor(loss)}, None, 3)
    assert (stopped.value.epoch, stopped.value.step) == (2, 102) and math.isnan(stopped.value.loss)


def test_a_bad_loss_is_caught_before_validation_and_its_checkpoint():
    stop = StopOnDivergence(check_every=50)
    trainer = SimpleNamespace(global_step=7, current_epoch=0, optimizers=[])
    stop.on_train_batch_end(trainer, None, torch.tensor(float("inf")), None, 6)
    with pytest.raises(Diverged, match="became inf at epoch 0, step 6"):
        stop.on_validation_start(trainer, None)
    stop.on_train_epoch_end(trainer, None)  # already reported: nothing left to check
