"""scripts/bench.py runs end to end on random data and writes its JSON (timings are reported, never asserted)."""

import importlib.util
import json
import math

import pytest
from conftest import ROOT, needs_fashion


@pytest.fixture(autouse=True)
def torch_threads_kept():
    """bench.py --threads N sets torch's thread count for its process: here the test's, shared with later tests
    (a run compared with a subprocess's on another thread count differs in the last bits)."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def load_bench():
    spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_bench_one_epoch_on_random_data_writes_its_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    load_bench().main(["--epochs", "1", "--data", "random", "--random-images", "1200", "--json", str(out), "--startup"])
    result = json.loads(out.read_text())
    rates = result["samples_per_s"]
    assert set(rates) == {"litlab", "loop", "per_sample", "loop_steps_only"}
    assert all(math.isfinite(v) and v > 0 for v in rates.values())
    assert math.isclose(result["ratio_vs_loop"], rates["litlab"] / rates["loop"])
    assert math.isclose(result["ratio_vs_per_sample"], rates["litlab"] / rates["per_sample"])
    assert len(result["epoch_samples_per_s"]["litlab"]) == 1 and len(result["epoch_samples_per_s"]["loop"]) == 2
    assert result["samples_per_s"]["loop_steps_only"] >= rates["loop"]
    assert result["train_samples"] == 1100 and result["batch_size"] == 256 and result["model"] == "mlp"
    assert result["data"].startswith("random") and 0 < result["startup_s"] < 600
    printed = capsys.readouterr().out
    assert "random images of FashionMNIST's shape" in printed and "(c) per-sample" in printed


def test_trainer_overhead_measures_three_paths_and_the_ceiling_of_a_bench_run(tmp_path):
    spec = importlib.util.spec_from_file_location("trainer_overhead", ROOT / "scripts" / "trainer_overhead.py")
    overhead = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(overhead)
    bench = tmp_path / "bench.json"
    bench.write_text(
        json.dumps(
            {"samples_per_s": {"loop": 100_000, "loop_steps_only": 128_000}, "batch_size": 256, "ratio_vs_loop": 0.8}
        )
    )
    out = tmp_path / "overhead.json"
    result = overhead.main(["--steps", "20", "--epochs", "1", "--bench", str(bench), "--json", str(out)])
    assert json.loads(out.read_text()) == result
    us = result["us_per_step"]
    assert set(us) == {"loop", "trainer_automatic", "trainer_manual"} and all(v > 0 for v in us.values())
    assert result["overhead_us"]["trainer_automatic"] == us["trainer_automatic"] - us["loop"]
    ceiling = result["bench"]
    assert (ceiling["loop_step_us"], ceiling["loop_us"]) == pytest.approx((2000, 2560))  # 256 at 128k/s, 100k/s
    assert ceiling["ratio_vs_loop_at_most"] == pytest.approx(2560 / (2000 + result["overhead_us"]["trainer_automatic"]))


@pytest.mark.parametrize(
    "script",
    [
        "handwritten_iris_optimizers",
        "handwritten_polynomial_overfit",
        pytest.param("handwritten_fashion_mnist", marks=needs_fashion),
    ],
)
def test_hand_written_scripts_train_what_the_experiment_trains(script, tmp_path):
    """The reference scripts are the same runs: Iris reaches the experiment's accuracy, d2l's weights come back,
    FashionMNIST's MLP passes 80% after one epoch."""
    spec = importlib.util.spec_from_file_location(script, ROOT / "scripts" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if script == "handwritten_fashion_mnist":
        result = module.main([f"--data-dir={ROOT / 'data'}", "--epochs=1", f"--out={tmp_path}"])
        assert result["test/acc"] > 0.8 and (tmp_path / "best.pt").is_file() and (tmp_path / "last.pt").is_file()
        return
    result = module.main([f"--out={tmp_path}"])
    if script == "handwritten_iris_optimizers":
        assert result["val/acc"] >= 0.9 and result["test/acc"] >= 0.9
    else:  # d2l 4.4: w close to the true [5, 1.2, -3.4, 5.6], test loss near the noise's 0.01
        assert result["w"] == pytest.approx([5.0, 1.2, -3.4, 5.6], abs=0.5) and result["test/loss"] < 0.05
