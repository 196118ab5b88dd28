"""`python eval.py ckpt_path=...` reproduces the test metrics the training run reported; bad checkpoints are refused."""

import json

import pytest
from conftest import QUICK, compose_config, read_metrics
from hydra.core.global_hydra import GlobalHydra

from litlab.errors import LitlabError
from litlab.evaluate import evaluate
from litlab.run import train


@pytest.fixture
def make_eval_cfg(tmp_path):
    yield lambda *overrides: compose_config("eval", [f"paths.output_dir={tmp_path / 'eval'}", *overrides])
    GlobalHydra.instance().clear()


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    """A short Iris run, trained once for the tests below."""
    folder = tmp_path_factory.mktemp("iris_run")
    train(
        compose_config(
            "train", [*QUICK, "data=iris", "model=mlp", "trainer.max_epochs=5", f"paths.output_dir={folder}"]
        )
    )
    GlobalHydra.instance().clear()
    return folder


def test_eval_reproduces_the_reported_test_metrics(iris_run, tmp_path, run_in_process):
    reported = read_metrics(iris_run)
    result = run_in_process(f"ckpt_path={reported['best_checkpoint']}", f"hydra.run.dir={tmp_path}", script="eval.py")
    assert result.returncode == 0, result.stderr[-2000:]
    evaluated = json.loads((tmp_path / "metrics.json").read_text())
    assert evaluated["split"] == "test" and evaluated["checkpoint"] == reported["best_checkpoint"]
    assert evaluated["test/acc"] == reported["test/acc"]
    assert evaluated["test/loss"] == pytest.approx(reported["test/loss"], rel=1e-6)
    assert "test/acc" in result.stdout


def test_eval_on_the_validation_split(iris_run, make_eval_cfg):
    record = evaluate(make_eval_cfg(f"ckpt_path={iris_run / 'checkpoints' / 'last.ckpt'}", "split=val"))
    assert record["val/acc"] == pytest.approx(read_metrics(iris_run)["val/acc"])  # last epoch's val metrics


@pytest.mark.parametrize(
    ("make_path", "message"),
    [
        (lambda run, tmp: tmp / "missing.ckpt", r"ckpt_path=.*missing.ckpt: no such file"),
        (lambda run, tmp: run / "metrics.json", r"ckpt_path=.*metrics.json cannot be read as a checkpoint"),
    ],
)
def test_eval_refuses_what_is_not_a_checkpoint(iris_run, tmp_path, make_eval_cfg, make_path, message):
    with pytest.raises(LitlabError, match=message):
        evaluate(make_eval_cfg(f"ckpt_path={make_path(iris_run, tmp_path)}"))


def test_eval_refuses_data_the_checkpoint_does_not_fit(iris_run, make_eval_cfg):
    ckpt = iris_run / "checkpoints" / "last.ckpt"
    with pytest.raises(
        LitlabError,
        match=r"does not match the chosen data: its network takes 4 features and 3 "
        r"outputs; DigitsDataModule has 64 features and 10 outputs",
    ):
        evaluate(make_eval_cfg(f"ckpt_path={ckpt}", "data=digits"))
    with pytest.raises(LitlabError, match="holds a classification model; the chosen data .* is a regression set"):
        evaluate(make_eval_cfg(f"ckpt_path={ckpt}", "data=synthetic_linear"))


def test_eval_without_a_checkpoint_says_so(tmp_path, run_in_process):
    result = run_in_process(f"hydra.run.dir={tmp_path}", script="eval.py")
    assert result.returncode == 2 and result.stderr.strip() == "error: ckpt_path is required: add ckpt_path=..."


def test_eval_counts_the_epochs_a_checkpoint_holds(iris_run, tmp_path, run_in_process):
    """last.ckpt of a 5-epoch run holds 5 epochs; the best one, epochNNN.ckpt, NNN + 1. Lightning's lines print once."""
    best = read_metrics(iris_run)["best_checkpoint"]
    for ckpt, epochs in ((iris_run / "checkpoints" / "last.ckpt", 5), (best, int(best[-8:-5]) + 1)):
        result = run_in_process(f"ckpt_path={ckpt}", f"hydra.run.dir={tmp_path / str(epochs)}", script="eval.py")
        assert result.returncode == 0, result.stderr[-2000:]
        assert read_metrics(tmp_path / str(epochs))["epochs"] == epochs
        assert f"evaluated, {epochs} epochs" in result.stdout
        # Lightning's own console handler ("INFO: Seed set to 42") beside Hydra's printed each line twice.
        assert not [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("INFO: ")]
