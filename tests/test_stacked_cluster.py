"""Stacked groups in processes of their own, through submitit: `hydra.launcher.workers=N` and `cluster=local`
(the path `cluster=slurm` takes, with submitit's local executor), and a group preempted there (SIGUSR2)."""

import signal
import threading
import time

import psutil
import pytest
from conftest import IRIS_GRID, read_metrics

SWEEP = [*IRIS_GRID, "~hydra.callbacks.sweep_report"]


def sweep(run_in_process, folder, *args):
    result = run_in_process("-m", *SWEEP, *args, "hydra/launcher=stacked", f"hydra.sweep.dir={folder}")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return result.stdout + result.stderr


def test_a_bad_cluster_or_workers_stops_the_sweep_in_one_line(run_in_process, tmp_path):
    from hydra_plugins.litlab_stacked.stacked_launcher import StackedLauncher
    from litlab.errors import LitlabError

    result = run_in_process(
        "-m", *SWEEP, "hydra/launcher=stacked", "hydra.launcher.cluster=pbs", f"hydra.sweep.dir={tmp_path}"
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "hydra.launcher.cluster=pbs is not allowed: null, local or slurm" in result.stderr
    with pytest.raises(LitlabError, match="hydra.launcher.workers=0 is not allowed"):
        StackedLauncher(workers=0).check()


def test_two_workers_train_two_groups_each_folder_as_in_one_process(run_in_process, tmp_path):
    """workers=2 with max_members=auto: the 4 jobs become 2 groups, one per worker process; every job ends with
    the metrics it gets when the groups train in the launcher's process."""
    here = tmp_path / "here"
    sweep(run_in_process, here, "trainer.max_epochs=3", "hydra.launcher.max_members=2")
    log = sweep(run_in_process, tmp_path / "workers", "trainer.max_epochs=3", "hydra.launcher.workers=2")
    assert "4 stacked in 2 group(s)" in log and log.count("submitit job") == 2
    for job in map(str, range(4)):
        metrics, expected = read_metrics(tmp_path / "workers" / job), read_metrics(here / job)
        assert metrics["status"] == "completed" and metrics["epochs"] == 3
        assert {k: v for k, v in metrics.items() if k != "best_checkpoint"} == {
            k: v for k, v in expected.items() if k != "best_checkpoint"
        }
        assert (tmp_path / "workers" / job / "checkpoints" / "last.ckpt").is_file()


def test_cluster_local_requeues_a_preempted_group_which_resumes_and_completes(run_in_process, tmp_path):
    """cluster=local: a submitit job per group. SIGUSR2 (a cluster's preemption signal) to the process training
    jobs 0 and 1: the loop writes their checkpoints, submitit's checkpoint() requeues the job, and the group
    continues from them to the end."""
    folder = tmp_path / "sweep"
    sent = []

    def preempt():
        log = folder / "0" / "train.log"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not (log.exists() and "training jobs" in log.read_text()):
            time.sleep(0.1)
        time.sleep(0.1)
        for process in psutil.Process().children(recursive=True):
            try:  # the job's process that submitit's controller started (not the writers it forked)
                controller = "submitit.local._local" in " ".join(process.parent().cmdline())
                if controller and any(f.path == str(log) for f in process.open_files()):
                    process.send_signal(signal.SIGUSR2)
                    sent.append(process.pid)
            except (psutil.NoSuchProcess, AttributeError):
                pass

    thread = threading.Thread(target=preempt, daemon=True)
    thread.start()
    args = ["trainer.max_epochs=40", "hydra.launcher.max_members=2", "hydra.launcher.cluster=local"]
    log = sweep(run_in_process, folder, *args)
    thread.join()
    assert len(sent) == 1 and "4 stacked in 2 group(s)" in log and log.count("submitit job") == 2
    for job in map(str, range(4)):
        metrics = read_metrics(folder / job)
        assert metrics["status"] == "completed" and metrics["epochs"] == 40
    submitit_logs = "".join(p.read_text() for p in folder.glob(".submitit/*/*_log.*"))
    assert "Requeued job" in submitit_logs and "group 1: training jobs [0, 1] (continued)" in submitit_logs
    for job in ("0", "1"):  # interrupted once, continued in the same folder
        assert "interrupted at epoch" in (folder / job / "train.log").read_text()


def test_cluster_slurm_asks_slurm_for_what_the_keys_of_hydra_launcher_slurm_say(tmp_path, monkeypatch):
    """cluster=slurm: submitit's Slurm executor, set from the keys hydra/launcher=slurm takes (the sbatch script it
    would submit; no Slurm here: a stand-in `srun` on PATH lets submitit build it), SIGUSR2 before the time limit."""
    from conftest import CONF
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate

    from litlab.stacked.submit import executor_for

    (tmp_path / "srun").write_text("#!/bin/sh\n")
    (tmp_path / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{__import__('os').environ['PATH']}")
    overrides = ["sweep=optimizers", "hydra.launcher.cluster=slurm", "hydra.launcher.partition=gpu"]
    overrides += ["hydra.launcher.gpus_per_node=1", "hydra.launcher.timeout_min=240", f"hydra.sweep.dir={tmp_path}"]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, "hydra.job.name=train"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    launcher = instantiate(cfg.hydra.launcher)
    launcher.config = cfg
    script = executor_for(launcher, str(tmp_path / ".submitit/%j"))._executor._make_submission_file_text("x", "u")
    for line in ("--partition=gpu", "--gpus-per-node=1", "--time=240", "--mem=16GB", "--cpus-per-task=4"):
        assert f"#SBATCH {line}\n" in script, line
    assert "#SBATCH --signal=USR2@" in script
