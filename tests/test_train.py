"""Short fits of every model x data pair that fits, and the reference results of the foundation issue."""

import pytest
from conftest import needs_fashion, read_metrics

from litlab.run import train

FITS = [
    ("fashion_mnist", "softmax"),
    ("fashion_mnist", "mlp"),
    ("iris", "softmax"),
    ("iris", "mlp"),
    ("digits", "softmax"),
    ("digits", "mlp"),
    ("synthetic_linear", "linreg"),
    ("synthetic_linear", "mlp"),
]
FIT_PARAMS = [pytest.param(d, m, id=f"{d}-{m}", marks=[needs_fashion] if d == "fashion_mnist" else []) for d, m in FITS]


@pytest.mark.parametrize(("data", "model"), FIT_PARAMS)
def test_short_fit_and_test(make_cfg, tmp_path, data, model):
    cfg = make_cfg(
        f"data={data}",
        f"model={model}",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2",
    )
    train(cfg)
    metrics = read_metrics(tmp_path)
    assert metrics["status"] == "completed"
    score = "test/acc" if model != "linreg" and data != "synthetic_linear" else "test/mse"
    assert score in metrics and "test/loss" in metrics and "val/loss" in metrics and "train/loss" in metrics
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_linear_regression_recovers_w_and_b(make_cfg, tmp_path):
    """d2l 3.2: lr 0.03, batch 10, 3 epochs recovers w = [2, -3.4], b = 4.2 (d2l's error about 5e-4)."""
    cfg = make_cfg(
        "data=synthetic_linear", "model=linreg", "optimizer.lr=0.03", "data.batch_size=10", "trainer.max_epochs=3"
    )
    train(cfg)
    metrics = read_metrics(tmp_path)
    assert metrics["params/w_error"] < 0.01 and metrics["params/b_error"] < 0.01
    assert metrics["test/mse"] < 1e-3  # noise std 0.01: the floor is 1e-4


@pytest.mark.parametrize("model", ["softmax", "mlp"])
def test_iris_reaches_090(make_cfg, tmp_path, model):
    cfg = make_cfg("data=iris", f"model={model}", "optimizer=adam", "optimizer.lr=0.01", "trainer.max_epochs=60")
    train(cfg)
    assert read_metrics(tmp_path)["test/acc"] >= 0.9


@needs_fashion
def test_softmax_fashion_mnist_d2l_setting(make_cfg, tmp_path):
    """d2l 4.4: softmax regression, SGD lr 0.1, batch 256, 10 epochs; d2l reports 0.828-0.835."""
    cfg = make_cfg("model=softmax", "optimizer.lr=0.1", "data.batch_size=256", "trainer.max_epochs=10")
    train(cfg)
    assert read_metrics(tmp_path)["test/acc"] >= 0.82


def test_same_seed_same_metrics(make_cfg, tmp_path):
    results = []
    for run in ("a", "b"):
        cfg = make_cfg("data=iris", "model=mlp", "trainer.max_epochs=3", f"paths.output_dir={tmp_path / run}")
        train(cfg)
        results.append(read_metrics(tmp_path / run))
    keys = [k for k in results[0] if k.startswith(("train/", "val/", "test/"))]
    assert keys and all(results[0][k] == results[1][k] for k in keys)


def test_train_returns_the_optimized_metric(make_cfg, tmp_path):
    cfg = make_cfg("data=iris", "model=softmax", "trainer.max_epochs=2", "optimized_metric=test/acc")
    assert train(cfg) == read_metrics(tmp_path)["test/acc"]


OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamw"]


@needs_fashion
@pytest.mark.slow
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimizer_defaults_train_the_default_mlp(make_cfg, tmp_path, optimizer):
    """Each optimizer option's defaults reach 0.85 test accuracy with the default MLP in 10 epochs."""
    train(make_cfg(f"optimizer={optimizer}"))
    assert read_metrics(tmp_path)["test/acc"] >= 0.85


@pytest.mark.parametrize("logger", ["tensorboard", "csv", "none"])
def test_every_logger_option_runs(make_cfg, tmp_path, logger):
    train(make_cfg("data=iris", "model=softmax", f"logger={logger}", "trainer.max_epochs=2"))
    assert read_metrics(tmp_path)["status"] == "completed"
    assert (tmp_path / "csv" / "metrics.csv").exists() == (logger == "csv")
