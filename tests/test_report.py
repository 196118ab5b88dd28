"""The sweep report on hand-made job folders: swept keys, seed groups, marked jobs, axes, curves."""

import json

import pytest
from omegaconf import OmegaConf

from litlab.errors import LitlabError
from litlab.report import _scale, grouped_over, learning_curves, load_runs, write_report


def job(sweep, num, overrides, metrics=None):
    folder = sweep / str(num)
    (folder / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(overrides), folder / ".hydra" / "overrides.yaml")
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


@pytest.fixture
def sweep(tmp_path):
    """lambda in {0, 3} x seed in {0, 1}; one job diverged, one never wrote its metrics."""
    losses = {(0, 0): 70.0, (0, 1): 80.0, (3, 0): 0.1}
    for num, (l2, seed) in enumerate([(0, 0), (0, 1), (3, 0), (3, 1)]):
        overrides = ["experiment=weight_decay", f"regularization.l2={l2}", f"seed={seed}"]
        metrics = (
            {"status": "completed", "epochs": 100, "test/loss": losses[(l2, seed)], "lr-SGD": 0.003}
            if (l2, seed) in losses
            else None
        )
        job(tmp_path, num, overrides, metrics)
    job(
        tmp_path,
        4,
        ["experiment=weight_decay", "regularization.l2=5", "seed=0"],
        {"status": "diverged", "epochs": 3, "test/loss": "nan", "error": "loss is nan at epoch 3"},
    )
    return tmp_path


def test_swept_keys_and_rows(sweep):
    table, swept = load_runs(sweep)
    assert swept == ["regularization.l2", "seed"]  # experiment= is the same in every job
    assert list(table["regularization.l2"]) == [0, 0, 3, 3, 5] and table["regularization.l2"].dtype.kind in "if"
    assert list(table["status"]) == ["completed", "completed", "completed", "no metrics.json", "diverged"]
    assert "lr-SGD" not in table and table["test/loss"].isna().sum() == 2


def test_seeds_grouped_to_mean_and_std(sweep):
    grouped = grouped_over(*load_runs(sweep)).set_index("regularization.l2")
    assert grouped.loc[0, "runs"] == "2/2" and grouped.loc[0, "test/loss mean"] == 75.0
    assert grouped.loc[0, "test/loss std"] == pytest.approx(7.0711, abs=1e-4)
    assert grouped.loc[3, "runs"] == "1/2"  # the job without metrics counts as a run, not as a result


def test_report_marks_every_job_that_did_not_complete(sweep):
    written = write_report(sweep, plots=False, echo=False)
    markdown = (sweep / "report.md").read_text()
    assert "- job 3: **no metrics.json**" in markdown
    assert "- job 4: **diverged** loss is nan at epoch 3" in markdown
    assert "| 0 | 2/2 | 75 ± 7.1 |" in markdown and "| 5 | 0/1 |  |" in markdown
    assert {p.name for p in written} == {"report.csv", "report_by_seed.csv", "report.md"}


def test_not_a_sweep_folder(tmp_path):
    with pytest.raises(LitlabError, match="no job folders"):
        load_runs(tmp_path)


@pytest.mark.parametrize(
    ("values", "scale"),
    [
        ([0, 0.5, 1, 2, 3, 5], None),
        ([1e-4, 1e-3, 1e-1], "log"),
        ([0, 1e-3, 1e-2, 1e-1], "symlog"),
        ([72.8, 0.09], "log"),
    ],
)
def test_log_axis_when_values_span_decades(values, scale):
    chosen = []
    _scale(lambda name, **kw: chosen.append(name), values)
    assert chosen == ([scale] if scale else [])


def test_learning_curves_from_the_csv_logger(tmp_path):
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "metrics.csv").write_text(
        "epoch,step,train/loss,val/loss\n0,9,,2.0\n0,9,3.0,\n1,19,,1.0\n1,19,1.5,\n"
    )
    curves = learning_curves(tmp_path)
    assert curves["train/loss"].to_dict() == {0: 3.0, 1: 1.5} and curves["val/loss"].to_dict() == {0: 2.0, 1: 1.0}


def test_folds_grouped_like_seeds(tmp_path):
    """A k-fold study (data.fold 0..2) with two seeds: mean ± std over folds per seed, and over both together."""
    for num, (seed, fold) in enumerate((s, f) for s in (0, 1) for f in range(3)):
        job(
            tmp_path,
            num,
            ["experiment=tabular_csv", f"data.fold={fold}", f"seed={seed}"],
            {"status": "completed", "epochs": 5, "test/acc": 0.9 + 0.01 * fold + 0.05 * seed},
        )
    written = write_report(tmp_path, plots=False, echo=False)
    assert {p.name for p in written} == {"report.csv", "report_by_fold.csv", "report_by_fold_and_seed.csv", "report.md"}
    table, swept = load_runs(tmp_path)
    by_fold = grouped_over(table, swept, ("data.fold",)).set_index("seed")
    assert by_fold.loc[1, "runs"] == "3/3" and by_fold.loc[1, "test/acc mean"] == pytest.approx(0.96)
    assert by_fold.loc[0, "test/acc std"] == pytest.approx(0.01)
    both = grouped_over(table, swept, ("data.fold", "seed"))
    assert len(both) == 1 and both.loc[0, "runs"] == "6/6" and both.loc[0, "test/acc mean"] == pytest.approx(0.935)
    markdown = (tmp_path / "report.md").read_text()
    assert "Grouped over folds: mean ± std" in markdown and "| 1 | 3/3 | 0.96 ± 0.01 |" in markdown
    assert "Grouped over folds and seeds: mean ± std" in markdown and "| 6/6 | 0.935 ± 0.029 |" in markdown


def test_settings_keep_the_sweep_order_and_stages_stand_apart(tmp_path):
    """optimizer=sgd,adam: sgd first in the grouped table and along x; train, val and test markers side by side."""
    from litlab.report import _metrics_figure

    for num, (optimizer, seed) in enumerate([("sgd", 0), ("sgd", 1), ("adam", 0), ("adam", 1)]):
        metrics = {f"{stage}/loss": 0.1 * num + 0.01 * s for s, stage in enumerate(("train", "val", "test"))}
        job(tmp_path, num, [f"optimizer={optimizer}", f"seed={seed}"], {"status": "completed", "epochs": 1, **metrics})
    table, swept = load_runs(tmp_path)
    assert list(grouped_over(table, swept)["optimizer"]) == ["sgd", "adam"]
    figure = _metrics_figure(table, swept, "optimizer")
    ax = figure.axes[0]
    assert [label.get_text() for label in ax.get_xticklabels()] == ["sgd", "adam"]
    marks = [line for line in ax.lines if line.get_marker() == "o"]  # train, val, test (not the error bars' caps)
    xs = [line.get_transform().transform(line.get_xydata())[:, 0] for line in marks]
    assert len(xs) == 3 and xs[0][0] < xs[1][0] < xs[2][0] and xs[2][0] < xs[0][1]


def test_tensorboard_links_are_named_after_the_settings_within_255_bytes(tmp_path):
    from litlab.report import link_runs

    long = "x" * 300
    for num, value in enumerate(["a/b", long, long + "y"]):
        folder = job(tmp_path, num, [f"data.path={value}"], {"status": "completed", "epochs": 1})
        (folder / "tensorboard").mkdir()
        (folder / "tensorboard" / "events.out.tfevents.1.host").write_bytes(b"")
    link_runs(tmp_path, *load_runs(tmp_path))
    names = sorted(p.name for p in (tmp_path / "tensorboard").iterdir())
    assert names[0] == "data.path=a_b" and len(names) == 3
    assert all(len(name.encode()) <= 255 for name in names) and names[1].endswith("… job 1")
    assert all((tmp_path / "tensorboard" / name / "events.out.tfevents.1.host").exists() for name in names)
    link_runs(tmp_path, *load_runs(tmp_path))  # written again (a later report): the same links
    assert sorted(p.name for p in (tmp_path / "tensorboard").iterdir()) == names


def test_a_large_stacked_sweep_reads_its_history_files_and_prints_no_tensorboard_lines(tmp_path, caplog):
    """120 jobs (12 learning rates x 10 seeds) leaving history.npy as a stacked sweep's writer does, and three
    single runs with TensorBoard events only: the curves come from both, TensorBoard's loader says nothing,
    and the learning curves are drawn as a mean and a band per setting, not 120 lines."""
    import logging

    import matplotlib
    import numpy as np
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    from litlab.report import _curves_figure, _metrics_figure

    epochs = np.arange(20.0)
    for num in range(123):
        lr, seed = 10 ** (-3 + num // 10 / 4), num % 10
        loss = np.exp(-lr * epochs) + 0.01 * seed
        metrics = {"status": "completed", "epochs": 20, "train/loss": float(loss[-1])}
        folder = job(tmp_path, num, [f"optimizer.lr={lr:.4g}", f"seed={seed}"], metrics)
        if num < 120:
            table = np.rec.fromarrays([epochs, loss, loss + 0.1], names=["epoch", "train/loss", "val/loss"])
            np.save(folder / "history.npy", table)
        else:  # a single run's folder: its curves are in its TensorBoard events
            writer = SummaryWriter(str(folder / "tensorboard"))
            for epoch, value in zip(epochs, loss):
                writer.add_scalar("epoch", epoch, int(epoch) * 5 + 4)
                writer.add_scalar("train/loss", value, int(epoch) * 5 + 4)
            writer.close()
    caplog.set_level(logging.INFO)
    write_report(tmp_path, echo=False)
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("tensorboard")]
    run = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0})  # the report's own run
    run.Reload()
    assert run.Tags()["images"] == ["sweep/metrics_vs_optimizer_lr", "sweep/learning_curves"]
    assert (
        run.Images("sweep/learning_curves")[0].encoded_image_string == (tmp_path / "learning_curves.png").read_bytes()
    )
    assert learning_curves(tmp_path / "121")["train/loss"].to_dict()[3] == pytest.approx(np.exp(-3) + 0.01, rel=1e-5)
    assert learning_curves(tmp_path / "7")["val/loss"].to_dict()[0] == pytest.approx(1 + 0.07 + 0.1)
    matplotlib.use("Agg")
    table, swept = load_runs(tmp_path)
    figure = _curves_figure(tmp_path, table, swept)
    assert "mean and min-max band over seed" in figure._suptitle.get_text()
    bands, means = figure.axes[0].collections  # one band and one mean line per learning rate
    assert len(bands.get_paths()) == 13 and len(means.get_segments()) == 13
    assert [text.get_text() for text in figure.legends[0].get_texts()][:2] == [
        "optimizer.lr=0.001",
        "optimizer.lr=0.001778",
    ]
    # The final losses against the learning rate: the axes span the points drawn (log x: 1e-3 .. 1).
    ax = _metrics_figure(table, swept, "optimizer.lr").axes[0]
    (left, right), (bottom, top) = ax.get_xlim(), ax.get_ylim()
    assert ax.get_xscale() == "log" and left < 1e-3 and 1 < right < 10
    assert bottom < table["train/loss"].min() and table["train/loss"].max() < top < 10


def test_every_point_of_the_metric_figure_is_inside_its_panel():
    """train, val, test and the baseline's two sit side by side at each x: the outermost ones too stay in view."""
    import matplotlib
    import pandas as pd

    from litlab.report import _metrics_figure

    matplotlib.use("Agg")
    optimizers = ["sgd", "momentum", "adagrad", "adadelta", "rmsprop", "adam"]
    table = pd.DataFrame({"optimizer": optimizers, "status": "completed"})
    scores = [f"{stage}/{score}" for score in ("acc", "loss") for stage in ("train", "val", "test", "baseline/val")]
    for i, metric in enumerate([*scores, "baseline/test/acc", "baseline/test/loss", "params/weight_norm"]):
        table[metric] = [0.8 + 0.03 * i] * len(optimizers)  # three panels, as a classifier's sweep has
    figure = _metrics_figure(table, ["optimizer"], "optimizer")
    figure.canvas.draw()
    ax = figure.axes[0]
    for line in ax.get_lines():
        radius = line.get_markersize() / 2 * figure.dpi / 72
        for x, _ in line.get_transform().transform(line.get_xydata()):
            assert ax.bbox.x0 <= x - radius and x + radius <= ax.bbox.x1  # the whole marker
