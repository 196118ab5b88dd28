"""Checkpoint files are written every `write_interval` seconds, at the end and on exceptions; a SIGKILL loses
at most one interval, and `resume=` continues from what is on disk to the result of an uninterrupted run."""

import signal

import lightning as L
import pytest
import torch
from conftest import QUICK, TESTS_ON_PATH, read_metrics, run_train

from litlab.callbacks.interval_checkpoint import HeldWrites, IntervalCheckpoint
from litlab.checkpoints import AtomicCheckpointIO
from litlab.errors import LitlabError
from litlab.run import build, train

# Iris, 200 epochs of 5 steps: a few seconds, long enough for a 0.5 s interval to pass during training.
RUN = ["data=iris", "model=mlp", "model.hidden=[16]", "data.batch_size=24", "trainer.max_epochs=200", *QUICK]


class FilesAtEpochEnd(L.Callback):
    """The checkpoint files on disk at each epoch end (before the checkpoint callback, which Lightning runs last)."""

    def __init__(self, dirpath):
        self.dirpath, self.seen = dirpath, []

    def on_train_epoch_end(self, trainer, pl_module):
        self.seen.append(sorted(p.name for p in self.dirpath.glob("*.ckpt")))


def test_a_run_shorter_than_the_interval_writes_both_checkpoints_at_the_end(make_cfg, tmp_path):
    datamodule, system, trainer = build(make_cfg("data=iris", "model=mlp", "trainer.max_epochs=4"))
    checkpoint = trainer.checkpoint_callback
    assert isinstance(checkpoint, IntervalCheckpoint) and checkpoint.write_interval == 30  # the default callbacks
    probe = FilesAtEpochEnd(tmp_path / "checkpoints")
    trainer.callbacks.append(probe)
    trainer.fit(system, datamodule=datamodule)

    assert probe.seen == [[]] * 4  # nothing written during the 4 epochs: the interval had not passed
    best, last = checkpoint.best_model_path, tmp_path / "checkpoints" / "last.ckpt"
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == sorted([last.name, best.rsplit("/", 1)[-1]])
    assert torch.load(last, weights_only=False)["global_step"] == trainer.global_step == 4 * 5
    held_best = torch.load(best, weights_only=False)
    assert held_best["callbacks"] and held_best["optimizer_states"]  # a full checkpoint, resumable
    # The file holds the weights of the best epoch, not the final ones (val/loss of that epoch, recomputed).
    assert held_best["epoch"] == int(best[-8:-5]) and held_best["global_step"] == 5 * (held_best["epoch"] + 1)


def test_sigkill_after_the_first_write_then_resume_equals_an_uninterrupted_run(make_cfg, tmp_path, run_in_process):
    train(make_cfg(*RUN, f"paths.output_dir={tmp_path / 'straight'}"))
    straight = read_metrics(tmp_path / "straight")

    run_dir = tmp_path / "killed"
    killed = run_train(
        *RUN,
        "callbacks.model_checkpoint.write_interval=0.5",
        "+callbacks.kill._target_=interrupting.SigkillAfterWrite",
        f"+callbacks.kill.dirpath={run_dir / 'checkpoints'}",
        f"hydra.run.dir={run_dir}",
        env=TESTS_ON_PATH,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert 0 < last["global_step"] < 200 * 5  # killed part way, after the first write
    state = next(v for k, v in last["callbacks"].items() if k.startswith("IntervalCheckpoint"))
    assert (
        run_dir / "checkpoints" / state["best_model_path"].rsplit("/", 1)[-1]
    ).is_file()  # the best it names is there

    # The run's own overrides come back with resume=: point the probe where no checkpoint will appear (the resumed
    # run is in this process).
    resumed = run_in_process(f"resume={run_dir}", f"+callbacks.kill.dirpath={tmp_path / 'nowhere'}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    final = read_metrics(run_dir)
    assert final["status"] == "completed" and final["epochs"] == straight["epochs"] == 200
    for key in [k for k in straight if k.startswith(("train/", "val/", "test/", "params/", "lr-"))]:
        assert final[key] == straight[key], key  # equal to the last digit, on CPU
    assert final["best_checkpoint"].rsplit("/", 1)[-1] == straight["best_checkpoint"].rsplit("/", 1)[-1]


def test_held_checkpoints_reach_the_disk_in_order_and_a_replaced_one_goes_after_its_successor(tmp_path):
    io = HeldWrites(AtomicCheckpointIO())
    io.save_checkpoint({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "epoch000.ckpt")
    weights = torch.ones(2)
    io.holding = True
    io.save_checkpoint({"state_dict": {"w": weights}}, tmp_path / "epoch001.ckpt")
    io.remove_checkpoint(tmp_path / "epoch000.ckpt")
    io.holding = False
    weights += 1  # training goes on: the held checkpoint keeps the values it was saved with
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch000.ckpt"]  # held; the old best still on disk
    io.save_checkpoint({"state_dict": {"w": weights}}, tmp_path / "last.ckpt")  # a write flushes what is held first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch001.ckpt", "last.ckpt"]
    assert torch.equal(torch.load(tmp_path / "epoch001.ckpt")["state_dict"]["w"], torch.ones(2))


def test_write_interval_must_not_be_negative():
    with pytest.raises(LitlabError, match=r"callbacks.model_checkpoint.write_interval=-1: use 0 or more"):
        IntervalCheckpoint(write_interval=-1)
