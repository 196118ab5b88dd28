"""scripts/bench.py runs end to end on random data and writes its JSON (timings are reported, never asserted)."""

import importlib.util
import json
import math

from conftest import ROOT


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
