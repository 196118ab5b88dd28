"""A run killed with SIGTERM in the middle of epoch 2 of 4 and resumed ends with the same metrics as one
that was never interrupted; checkpoints are written atomically and a broken one is refused clearly."""

import json

import pytest
import torch
from conftest import QUICK, TESTS_ON_PATH, read_metrics, run_train

from litlab.checkpoints import AtomicCheckpointIO
from litlab.cli import resume_arguments
from litlab.errors import LitlabError
from litlab.run import train

# digits: 1437 training images in batches of 64 = 23 steps per epoch; step 34 is in the middle of epoch 2.
RUN = [
    "data=digits",
    "model=mlp",
    "model.hidden=[64,64]",
    "model.dropout=0.3",
    "optimizer=momentum",
    "scheduler=step",
    "scheduler.step_size=1",
    "trainer.max_epochs=4",
    *QUICK,
]


def test_sigterm_mid_epoch_then_resume_equals_an_uninterrupted_run(make_cfg, tmp_path, run_in_process):
    train(make_cfg(*RUN, f"paths.output_dir={tmp_path / 'straight'}"))
    straight = read_metrics(tmp_path / "straight")

    run_dir = tmp_path / "interrupted"
    killed = run_train(
        *RUN,
        "+callbacks.sigterm._target_=interrupting.SigtermAt",
        "+callbacks.sigterm.step=34",
        f"hydra.run.dir={run_dir}",
        env=TESTS_ON_PATH,
    )
    assert killed.returncode == 143, killed.stderr[-2000:]
    stopped = read_metrics(run_dir)
    assert stopped["status"] == "interrupted" and stopped["epoch"] == 1 and stopped["step"] == 34
    assert stopped["resume"] == f"python train.py resume={run_dir}"
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 34

    # In this process (the SIGTERM run needed one of its own): the probe's step 34 is behind the resumed run.
    resumed = run_in_process(f"resume={run_dir}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    final = read_metrics(run_dir)
    assert final["status"] == "completed" and final["epochs"] == straight["epochs"] == 4
    for key in [k for k in straight if k.startswith(("train/", "val/", "test/", "params/", "lr-"))]:
        assert final[key] == straight[key], key  # equal to the last digit, on CPU
    # One folder, one TensorBoard run: the resumed session's events land beside the first ones.
    assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) >= 2
    assert len(json.loads((run_dir / "run.json").read_text())["resumed"]) == 1


def test_truncated_checkpoint_is_refused(make_cfg, tmp_path):
    train(make_cfg("data=iris", "model=softmax", "trainer.max_epochs=1", f"paths.output_dir={tmp_path / 'run'}"))
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:2000])  # what a kill in the middle of a plain write would leave
    with pytest.raises(LitlabError, match=r"resume=.*last.ckpt cannot be read as a checkpoint .*truncated"):
        train(make_cfg("data=iris", "model=softmax", f"resume={tmp_path / 'run'}"))
    with pytest.raises(LitlabError, match=r"ckpt_path=.*last.ckpt cannot be read as a checkpoint"):
        train(make_cfg("data=iris", "model=softmax", f"ckpt_path={last}"))
    with pytest.raises(LitlabError, match=r"ckpt_path=.*nothing.ckpt: no such file"):
        train(make_cfg("data=iris", "model=softmax", f"ckpt_path={tmp_path / 'nothing.ckpt'}"))


def test_a_kill_during_a_checkpoint_write_leaves_the_previous_one(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(3)}}, path)

    def killed_mid_write(obj, f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.zeros(3)}}, path)
    monkeypatch.undo()
    assert torch.equal(torch.load(path)["state_dict"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left behind


def test_resume_recomposes_the_runs_own_overrides(tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text("- data=iris\n- trainer.max_epochs=4\n")
    args = resume_arguments([f"resume={tmp_path}", "trainer.max_epochs=8"])
    assert args == ["data=iris", f"resume={tmp_path}", "trainer.max_epochs=8", f"hydra.run.dir={tmp_path}"]
    with pytest.raises(LitlabError, match="not a run folder"):
        resume_arguments([f"resume={tmp_path / 'elsewhere'}"])


def test_a_resumed_sweep_job_keeps_its_sweep_settings(tmp_path, run_in_process):
    """Keys given to `resume=JOB trainer.max_epochs=2` belong to the resume: the job's overrides.yaml stays the sweep's,
    run.json records the resume's own, config.yaml says what the resumed run used, and the report sees one swept key."""
    from litlab.report import load_runs, write_report

    sweep = ["-m", "data=iris", "trainer.max_epochs=1", *QUICK, "seed=0,1", f"hydra.sweep.dir={tmp_path}"]
    assert run_in_process(*sweep).returncode == 0
    job = tmp_path / "0"
    before = (job / ".hydra" / "overrides.yaml").read_text()
    links = sorted(p.name for p in (tmp_path / "tensorboard").iterdir() if p.is_symlink())
    result = run_in_process(f"resume={job}", "trainer.max_epochs=2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert read_metrics(job)["epochs"] == 2
    assert (job / ".hydra" / "overrides.yaml").read_text() == before
    assert json.loads((job / "run.json").read_text())["resumed"][0]["overrides"] == [
        f"resume={job}",
        "trainer.max_epochs=2",
    ]
    assert "max_epochs: 2" in (job / ".hydra" / "config.yaml").read_text()
    write_report(tmp_path, echo=False)
    assert load_runs(tmp_path)[1] == ["seed"]
    assert (
        sorted(p.name for p in (tmp_path / "tensorboard").iterdir() if p.is_symlink()) == links == ["seed=0", "seed=1"]
    )
