"""Bad input through the real `python train.py` entry point: a short message, no traceback, non-zero exit."""

from conftest import run_train


def test_model_that_does_not_fit_the_data(tmp_path):
    result = run_train("data=iris", "model=linreg", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert "model=linreg does not fit data=iris (classification); models that fit it: mlp, softmax" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unknown_option_lists_the_options(tmp_path):
    result = run_train("model=mlpp", f"hydra.run.dir={tmp_path}")
    assert result.returncode != 0
    assert "Could not find 'model/mlpp'" in result.stderr and "softmax" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_key_is_refused(tmp_path):
    result = run_train("optimizer.lrr=0.1", f"hydra.run.dir={tmp_path}")
    assert result.returncode != 0
    assert "optimizer.lrr" in result.stderr
    assert "Traceback" not in result.stderr
