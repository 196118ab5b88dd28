"""The same config and seed give the same metrics, and the run folder holds what is needed to rerun it."""

import json

from conftest import read_metrics

import litlab
from litlab.run import train


def test_same_seed_same_metrics_with_dropout_and_index_batches(make_cfg, tmp_path):
    """Shuffled index batches (litlab/data/batching.py) and dropout masks both follow the seed."""
    results = []
    for run in ("a", "b"):
        train(
            make_cfg(
                "data=digits",
                "model=mlp",
                "model.dropout=0.5",
                "trainer.max_epochs=2",
                f"paths.output_dir={tmp_path / run}",
            )
        )
        results.append(read_metrics(tmp_path / run))
    keys = [k for k in results[0] if k.startswith(("train/", "val/", "test/", "params/"))]
    assert len(keys) >= 6 and all(results[0][k] == results[1][k] for k in keys)
    other_seed = make_cfg(
        "data=digits",
        "model=mlp",
        "model.dropout=0.5",
        "trainer.max_epochs=2",
        "seed=7",
        f"paths.output_dir={tmp_path / 'c'}",
    )
    train(other_seed)
    assert read_metrics(tmp_path / "c")["train/loss"] != results[0]["train/loss"]


def test_run_folder_holds_config_overrides_version_and_commit(tmp_path, run_in_process):
    result = run_in_process(
        "data=iris", "model=softmax", "trainer.max_epochs=1", "callbacks.progress_bar=null", f"hydra.run.dir={tmp_path}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "_target_: litlab.data.iris.IrisDataModule" in (tmp_path / ".hydra" / "config.yaml").read_text()
    assert "- model=softmax" in (tmp_path / ".hydra" / "overrides.yaml").read_text()
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["litlab"] == litlab.__version__ and info["overrides"][:2] == ["data=iris", "model=softmax"]
    assert info["command"][0] == "train.py" and info["torch"] and info["lightning"]
    assert "git_commit" in info  # the commit hash in a git checkout, null elsewhere
    assert info["git_commit"] is None or len(info["git_commit"]) == 40
