"""scripts/bench_stacked.py's scale mode and its yardstick, scripts/handwritten_iris_grid.py, run tiny (timings are
reported, never asserted)."""

import importlib.util
import json

import pytest
from conftest import ROOT


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def torch_threads_kept():
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_hand_written_grid_trains_every_job_and_writes_its_metrics(tmp_path):
    result = load_script("handwritten_iris_grid").main(["--lrs=0.5,2", "--seeds=2", "--epochs=30", f"--out={tmp_path}"])
    assert result["jobs"] == 4
    records = [json.loads((tmp_path / str(job) / "metrics.json").read_text()) for job in range(4)]
    assert [(r["optimizer.lr"], r["seed"]) for r in records] == [(0.5, 0), (0.5, 1), (2.0, 0), (2.0, 1)]
    for record in records:
        curve = record["val_loss_curve"]
        assert len(curve) == 30 and record["val/loss"] == pytest.approx(curve[-1])
        assert min(curve) == pytest.approx(curve[record["best_epoch"]])  # the best epoch's weights are tested
        assert 0 <= record["test/acc"] <= 1
    assert records[2]["val/loss"] < records[0]["val/loss"]  # a larger step gets further in 30 epochs


def test_scale_mode_times_the_grid_stacked_by_hand_and_basic(tmp_path):
    out = tmp_path / "scale.json"
    bench = load_script("bench_stacked")
    result = bench.main(
        [
            "--scale",
            "--lrs=0.1,0.5",
            "--seeds=2",
            "--basic-sample=2",
            "--rounds=1",
            "--threads=1",
            "--clock=cpu",
            f"--json={out}",
            "trainer.max_epochs=2",
        ]
    )
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    grid = result["scale"]
    assert grid["jobs"] == 4 and grid["lrs"] == [0.1, 0.5]
    stacked = grid["stacked"]
    for phase in ("startup", "compose", "compositions", "folders", "build", "train", "report"):
        assert stacked["phases"][phase]["wall_s"] >= 0, phase
    assert stacked["front_ms_per_job"] > 0 and stacked["peak_mib"] > 0
    assert grid["basic_sample"]["jobs"] == 2
    assert grid["basic_sample"]["scaled_to_grid_s"] == pytest.approx(2 * grid["basic_sample"]["median_s"])
    assert grid["ratio_vs_handwritten"] == stacked["median_s"] / grid["handwritten"]["median_s"]
