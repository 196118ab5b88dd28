"""A run in this process leaves no thread behind: the progress bar's refresh thread and TensorBoard's writer
thread end with it, whether it completes or stops (a divergence). A thread left running by one in-process run
keeps drawing on, or writing to, what later runs and pytest itself use; the README and notebook chains run
dozens of scripts in one process."""

import threading

import pytest
from conftest import read_metrics

RUN = ["data=iris", "model=mlp", "trainer.max_epochs=3", "callbacks.progress_bar.refresh_rate=50"]


@pytest.mark.parametrize(("extra", "status", "code"), [([], "completed", 0), (["optimizer.lr=1e12"], "diverged", 3)])
def test_an_in_process_run_leaves_no_thread_running(extra, status, code, tmp_path, run_in_process):
    before = set(threading.enumerate())
    result = run_in_process(*RUN, *extra, f"hydra.run.dir={tmp_path}")
    assert result.returncode == code, result.stderr[-2000:]
    assert read_metrics(tmp_path)["status"] == status
    left = [f"{type(t).__module__}.{type(t).__name__}" for t in set(threading.enumerate()) - before if t.is_alive()]
    assert left == []
