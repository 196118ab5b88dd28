"""Several processes and clusters: DDP on two CPU processes, DDP inside sweeps, the submitit launchers.

Each DDP run starts real processes (about 5 s of imports each), so these tests are few and short. The README's
`accelerator=ddp_spawn` sweep and `hydra/launcher=submitit_local` sweep are run by test_readme.py, which checks
their job folders, metrics and report (its CHECKS); they are not run a second time here.
"""

import os
from pathlib import Path

import pytest
import torch
from conftest import QUICK, TESTS_ON_PATH, read_metrics, run_train
from hydra.utils import instantiate

from litlab.errors import LitlabError
from litlab.run import build, main

# The subprocesses also import tests/ddp_probe.py (the callback that records what each rank trained on).
DIGITS = ["data=digits", "data.sizes=[1436,181,180]", "trainer.max_epochs=2"]  # an even training count: no padding
SLOW = 1200  # seconds: each DDP process imports torch and Lightning; minutes on a busy 2-core machine
GPUS = torch.cuda.device_count()
needs_gpu = pytest.mark.skipif(GPUS < 1, reason="no CUDA GPU on this machine")
needs_two_gpus = pytest.mark.skipif(GPUS < 2, reason=f"needs 2 CUDA GPUs, this machine has {GPUS}")


def only_child(folder: Path) -> Path:
    children = list(folder.iterdir())
    assert len(children) == 1, f"expected one folder in {folder}, found {children}"
    return children[0]


def test_ddp_on_two_cpu_processes(make_cfg, tmp_path):
    """One run folder written by rank 0 alone; metrics over the whole split; each rank trains on its own shard."""
    seen = tmp_path / "seen"
    # The default callbacks and logger, progress bar and model summary included: what a user's run has on every rank.
    result = run_train(
        *DIGITS,
        "accelerator=ddp",
        "+callbacks.probe._target_=ddp_probe.SeenSamples",
        f"+callbacks.probe.folder={seen}",
        cwd=tmp_path,
        env=TESTS_ON_PATH,
        timeout=SLOW,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    run = only_child(only_child(tmp_path / "outputs" / "runs"))  # outputs/runs/DATE/TIME, nothing else
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) == ["runs"]
    assert [p.name for p in run.glob("*.log")] == ["train.log"]  # none of rank 1's own
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert len(checkpoints) == 2 and checkpoints[-1] == "last.ckpt"  # the best and the last, saved once
    metrics = read_metrics(run)
    assert metrics["status"] == "completed" and metrics["epochs"] == 2

    # One TensorBoard run: every events file in one folder, from one process, one value per epoch.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = list(run.rglob("events.out.tfevents.*"))
    assert {e.parent for e in events} == {run / "tensorboard"}
    assert len({e.name.split(".")[-2] for e in events}) == 1  # the writer's pid
    scalars = EventAccumulator(str(run / "tensorboard")).Reload()
    assert [s.value for s in scalars.Scalars("val/acc")][-1] == pytest.approx(metrics["val/acc"])
    assert len(scalars.Scalars("val/acc")) == 2

    # The synchronised metrics equal one process evaluating the same checkpoints on the whole split.
    datamodule, system, trainer = build(
        make_cfg(*DIGITS, "accelerator=cpu", "logger=none", "callbacks.model_checkpoint=null")
    )
    tested = trainer.test(system, datamodule=datamodule, ckpt_path=metrics["best_checkpoint"], verbose=False)[0]
    validated = trainer.validate(
        system, datamodule=datamodule, ckpt_path=str(run / "checkpoints" / "last.ckpt"), verbose=False
    )[0]
    assert metrics["test/acc"] == pytest.approx(tested["test/acc"], abs=1e-6)
    assert metrics["val/acc"] == pytest.approx(validated["val/acc"], abs=1e-6)
    assert metrics["test/loss"] == pytest.approx(tested["test/loss"], rel=1e-5)
    assert 0.5 < metrics["test/acc"] < 1  # a score that a single shard could not have matched by chance

    # Each epoch, the two ranks trained on disjoint halves that together hold every training sample once.
    train_x = datamodule.splits["train"][0].flatten(1)
    index = {tuple(row.tolist()): i for i, row in enumerate(train_x)}
    assert len(index) == len(train_x) == 1436
    for epoch in (0, 1):
        shards = [
            [index[tuple(row.tolist())] for row in torch.load(seen / f"epoch{epoch}_rank{rank}.pt").flatten(1)]
            for rank in (0, 1)
        ]
        assert len(shards[0]) == len(shards[1]) == 718
        assert sorted(shards[0] + shards[1]) == list(range(1436))


def test_ddp_inside_a_multirun_is_refused(make_cfg, tmp_path):
    """`ddp` would rerun the sweep for rank 1: the job stops before starting any process and says what to use."""
    cfg = make_cfg("data=iris", "accelerator=ddp", "hydra.mode=MULTIRUN")
    with pytest.raises(LitlabError, match=r"accelerator=ddp .*inside a multirun.* use accelerator=ddp_spawn"):
        build(cfg)
    assert main(cfg) is None  # in a sweep: recorded as a failed job, the sweep goes on
    record = read_metrics(tmp_path)
    assert record["status"] == "failed" and "accelerator=ddp_spawn" in record["error"]
    assert not (tmp_path / "checkpoints").exists()


def test_ddp_started_by_slurm_is_allowed_in_a_multirun(make_cfg, monkeypatch):
    """On Slurm every process is started by srun: Lightning restarts nothing, so `ddp` is right in sweeps."""
    for key, value in {
        "SLURM_NTASKS": "2",
        "SLURM_NTASKS_PER_NODE": "2",
        "SLURM_JOB_NAME": "train",
        "SLURM_JOB_ID": "4242",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_NODEID": "0",
    }.items():
        monkeypatch.setenv(key, value)
    _, _, trainer = build(make_cfg("data=iris", "accelerator=ddp", "hydra.mode=MULTIRUN"))
    assert trainer.strategy.cluster_environment.creates_processes_externally


def test_slurm_preset_asks_for_one_task_per_device(tmp_path, monkeypatch):
    """hydra/launcher=slurm writes the sbatch script Lightning's DDP expects, up to the cluster itself (faked)."""
    import submitit
    from omegaconf import OmegaConf

    # Fake srun and sbatch: submitit only checks that srun exists; sbatch keeps the script and answers with a job id.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\n")
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\ncp "$1" {tmp_path}/job.sh\necho "Submitted batch job 4242"\n')
    for tool in ("srun", "sbatch"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(submitit.slurm.slurm.SlurmJob, "results", lambda self: [None])

    from conftest import CONF
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3", job_name="train"):
        cfg = compose(
            "train",
            return_hydra_config=True,
            overrides=[
                "hydra/launcher=slurm",
                "hydra.launcher.partition=gpu",
                "hydra.launcher.gpus_per_node=4",
                "accelerator=gpu",
                "accelerator.devices=4",
                f"hydra.sweep.dir={tmp_path / 'sweep'}",
            ],
        )
    launcher = instantiate(cfg.hydra.launcher)
    launcher.setup(hydra_context=None, task_function=None, config=cfg)
    launcher.launch([["optimizer.lr=0.01"], ["optimizer.lr=0.1"]], initial_job_idx=0)

    script = (tmp_path / "job.sh").read_text()
    for line in (
        "--partition=gpu",
        "--ntasks-per-node=4",
        "--gpus-per-node=4",
        "--nodes=1",
        "--cpus-per-task=4",
        "--mem=16GB",
        "--time=60",
        "--array=0-1%2",
    ):
        assert f"#SBATCH {line}\n" in script, f"{line} missing from\n{script}"
    assert "srun" in script and "submitit.core._submit" in script
    assert OmegaConf.select(cfg, "hydra.launcher.tasks_per_node") == cfg.accelerator.devices


def test_precision_is_a_trainer_key(make_cfg, tmp_path):
    cfg = make_cfg("data=iris", "trainer.precision=bf16-mixed", "trainer.max_epochs=1")
    assert "precision" not in cfg.accelerator  # one place for it: trainer.precision
    _, _, trainer = build(cfg)
    assert trainer.precision == "bf16-mixed"


def test_unknown_precision_names_the_key(make_cfg):
    with pytest.raises(LitlabError, match=r"Precision 'fp8' is invalid.*16-mixed.*trainer.precision=fp8"):
        build(make_cfg("data=iris", "trainer.precision=fp8"))


@needs_gpu
def test_one_gpu_mixed_precision(make_cfg, tmp_path):
    from litlab.run import train

    train(make_cfg("data=digits", "accelerator=gpu", "trainer.precision=16-mixed", "trainer.max_epochs=2"))
    metrics = read_metrics(tmp_path)
    assert metrics["status"] == "completed" and metrics["test/acc"] > 0.8


@needs_two_gpus
def test_ddp_on_two_gpus(tmp_path):
    result = run_train(*DIGITS, "accelerator=gpu", "accelerator.devices=2", *QUICK, cwd=tmp_path, timeout=SLOW)
    assert result.returncode == 0, result.stderr[-3000:]
    run = only_child(only_child(tmp_path / "outputs" / "runs"))
    metrics = read_metrics(run)
    assert metrics["status"] == "completed" and metrics["test/acc"] > 0.5
