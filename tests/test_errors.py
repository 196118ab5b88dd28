"""Bad input through the real `python train.py` entry point: a short message, no traceback, non-zero exit.

train.py runs in the test's process (run_in_process: its own __main__, exit status from SystemExit); README's
`$ python train.py ...` error transcripts run it as a process and check the same lines (test_readme.py).
"""

import pytest


def test_model_that_does_not_fit_the_data(tmp_path, run_in_process):
    result = run_in_process("data=iris", "model=linreg", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert "model=linreg does not fit data=iris (classification); models that fit it: mlp, softmax" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unknown_option_lists_the_options(tmp_path, run_in_process):
    result = run_in_process("model=mlpp", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: model=mlpp is not an option; did you mean model=mlp? options of model: linreg, mlp, softmax"
    ]
    with pytest.raises(Exception, match="Could not find 'model/mlpp'"):  # Hydra's own error, let through to Python
        run_in_process("model=mlpp", f"hydra.run.dir={tmp_path}", env={"HYDRA_FULL_ERROR": "1"})


@pytest.mark.parametrize(
    ("override", "group"), [("experiment=nonexistent", "experiment"), ("hydra/launcher=jobli", "hydra/launcher")]
)
def test_unknown_option_of_any_group(make_cfg, override, group):
    """Every group, Hydra's own included, names its options; checked in-process, the path train.py reports through."""
    from hydra.errors import ConfigCompositionException

    from litlab.cli import explain

    with pytest.raises(ConfigCompositionException) as raised:
        make_cfg(override)
    message = explain(raised.value)
    assert message.startswith(f"{override} is not an option") and f"options of {group}: " in message
    assert "\n" not in message
    assert ("joblib" if group == "hydra/launcher" else "weight_decay") in message


def test_unknown_key_says_what_to_type_instead(tmp_path, run_in_process):
    result = run_in_process("optimizer.lrr=0.1", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: optimizer.lrr is not a key; did you mean optimizer.lr?",
        "keys of optimizer: lr, momentum, dampening, nesterov",
    ]
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # refused before the run folder is made


def test_wrong_type_names_the_key_and_the_type(tmp_path, run_in_process):
    result = run_in_process("optimizer.lr=fast", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: optimizer.lr=fast is not allowed: optimizer.lr takes a number"


def test_value_out_of_range_fails_before_training(tmp_path, run_in_process):
    result = run_in_process("data=iris", "optimizer.lr=-0.1", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: optimizer.lr=-0.1 is not allowed: lr must be > 0"
    assert not (tmp_path / "checkpoints").exists()


def test_full_traceback_with_hydra_full_error(tmp_path, run_in_process):
    """Hydra's error leaves train.py as it is, its cause chained (a process prints both tracebacks, exit status 1)."""
    with pytest.raises(Exception, match="Could not override 'optimizer.lrr'") as raised:
        run_in_process("optimizer.lrr=0.1", f"hydra.run.dir={tmp_path}", env={"HYDRA_FULL_ERROR": "1"})
    assert "Key 'lrr' not in 'SGDConf'" in str(raised.value.__cause__)


def test_gpu_that_is_not_there(tmp_path, run_in_process):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = run_in_process("accelerator=gpu", "data=iris", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: accelerator=gpu but this machine has no CUDA GPU")
    assert "use accelerator=cpu or accelerator=auto" in result.stderr


def test_help_and_cfg_still_work(run_in_process):
    helped = run_in_process("--help")
    assert helped.returncode == 0 and "optimizer: adadelta, adagrad" in helped.stdout
    assert "schema" not in helped.stdout.split("== Config ==")[0]  # schemas are not options
    shown = run_in_process("--cfg", "job", "optimizer=adam", "optimizer.lr=0.01")
    assert shown.returncode == 0 and "lr: 0.01" in shown.stdout and "betas:" in shown.stdout


def test_weight_decay_in_the_optimizer_is_refused(tmp_path, run_in_process):
    """Weight decay has one place, regularization.l2: the optimizer's parameter groups would silently override it."""
    result = run_in_process("data=iris", "+optimizer.weight_decay=0.1", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: optimizer.weight_decay=0.1 is not allowed: weight decay has one place, regularization.l2 "
        "(weights only, never biases); use regularization.l2=0.1"
    ]
    assert not (tmp_path / "checkpoints").exists()


def test_a_trainer_argument_that_does_not_exist_gets_a_suggestion(tmp_path, run_in_process):
    result = run_in_process("data=iris", "+trainer.max_epoch=2", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: trainer.max_epoch is not an argument of lightning.Trainer; did you mean trainer.max_epochs?"
    ]
    assert "Error executing job" not in result.stdout + result.stderr
