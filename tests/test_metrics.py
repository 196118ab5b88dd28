"""Epoch metrics: exact means over samples however the steps feed them, and step logging on request."""

import csv

import pytest
import torch
import torch.nn.functional as F
from conftest import read_metrics
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from litlab.run import build, train
from litlab.systems.step_buffer import StepBuffer


def metrics():
    return MeanMetric(), MetricCollection({"acc": MulticlassAccuracy(5, average="micro")})


def test_chunked_updates_equal_one_update_per_step():
    g = torch.Generator().manual_seed(0)
    sizes = [16] * 9 + [7]  # the last batch is partial
    batches = [
        (torch.rand((), generator=g), torch.randn(n, 5, generator=g), torch.randint(0, 5, (n,), generator=g))
        for n in sizes
    ]
    (mean_a, scores_a), (mean_b, scores_b) = metrics(), metrics()
    buffer = StepBuffer(mean_b, scores_b, every=3)
    for loss, output, target in batches:
        mean_a.update(loss, weight=len(target))
        scores_a.update(output, target)
        buffer.add(loss, output, target)
    buffer.flush()
    assert mean_b.compute().item() == pytest.approx(mean_a.compute().item(), rel=1e-6)
    assert scores_b.compute()["acc"].item() == scores_a.compute()["acc"].item()
    expected = sum(loss.item() * n for (loss, _, _), n in zip(batches, sizes)) / sum(sizes)
    assert mean_b.compute().item() == pytest.approx(expected, rel=1e-6)  # weighted by samples, not by batches


def test_epoch_metrics_are_means_over_samples_not_batches(make_cfg):
    # 15 validation samples in batches of 4, 4, 4, 3: the mean of batch means would differ.
    datamodule, system, trainer = build(
        make_cfg("data=iris", "model=softmax", "data.batch_size=4", "logger=csv", "trainer.max_epochs=2")
    )
    trainer.fit(system, datamodule=datamodule)
    logged = trainer.validate(system, datamodule=datamodule, verbose=False)[0]
    x, y = datamodule.splits["val"]
    with torch.no_grad():
        output = system(x)
    assert logged["val/loss"] == pytest.approx(F.cross_entropy(output, y).item(), rel=1e-5)
    assert logged["val/acc"] == pytest.approx((output.argmax(1) == y).float().mean().item())


def test_step_logging_adds_step_values_and_keeps_the_epoch_metrics(make_cfg, tmp_path):
    results = {}
    for steps in (False, True):
        out = tmp_path / str(steps)
        train(
            make_cfg(
                "data=iris",
                "model=mlp",
                "trainer.max_epochs=2",
                "logger=csv",
                "trainer.log_every_n_steps=1",
                f"log_step_metrics={str(steps).lower()}",
                f"paths.output_dir={out}",
            )
        )
        rows = list(csv.DictReader(open(out / "csv" / "metrics.csv")))
        results[steps] = read_metrics(out), {k for row in rows for k, v in row.items() if v}
    (plain, plain_columns), (stepped, stepped_columns) = results[False], results[True]
    assert {"train/loss_step", "train/acc_step"} <= stepped_columns - plain_columns
    assert all(
        stepped[k] == pytest.approx(plain[k], rel=1e-6) for k in plain if k.startswith(("train/", "val/", "test/"))
    )


@pytest.mark.parametrize("experiment", ["iris_optimizers", "linear_regression"])
def test_a_system_built_without_metrics_saves_what_the_full_one_saves(make_cfg, experiment):
    """`metrics=False` (the stacked engine's members) leaves out the torchmetrics objects only: the same
    hyperparameters, state_dict keys and initial weights from the same seed, so its checkpoints are the full one's."""
    import lightning as L

    from litlab.run import load_data, system_for

    cfg = make_cfg(f"experiment={experiment}")
    datamodule = load_data(cfg.data)
    systems = []
    for metrics in (True, False):
        L.seed_everything(0, verbose=False)
        systems.append(system_for(cfg, datamodule, metrics=metrics))
    full, lean = systems
    assert hasattr(full, "scores") and not hasattr(lean, "scores")
    assert dict(lean.hparams) == dict(full.hparams) and "metrics" not in full.hparams
    assert list(lean.state_dict()) == list(full.state_dict())
    for key, value in full.state_dict().items():
        assert torch.equal(lean.state_dict()[key], value), key
