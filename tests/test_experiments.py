"""The d2l experiments (`experiment=NAME`): each runs, and the fast ones reproduce d2l's published numbers."""

import pytest
import torch
from conftest import CONF, needs_fashion, read_metrics

from litlab.data.csv_file import CSVDataModule
from litlab.errors import LitlabError
from litlab.run import train

EXPERIMENTS = sorted(path.stem for path in (CONF / "experiment").glob("*.yaml"))
FASHION = {"softmax_fashion", "mlp_fashion", "dropout_fashion"}
SHORT = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.check_val_every_n_epoch=1",
]


@pytest.fixture
def iris_csv(tmp_path):
    """A user's CSV: Iris with its species as words, written as a user would have it."""
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame["species"] = frame.pop("target").map({0: "setosa", 1: "versicolor", 2: "virginica"})
    path = tmp_path / "flowers.csv"
    frame.to_csv(path, index=False)
    return path


def test_each_experiment_names_its_d2l_section():
    for name in EXPERIMENTS:
        lines = (CONF / "experiment" / f"{name}.yaml").read_text().splitlines()
        assert lines[0] == "# @package _global_", name
        assert lines[1].startswith("# d2l "), f"{name}: the second line should name the d2l section it reproduces"


@pytest.mark.parametrize("name", [pytest.param(n, marks=[needs_fashion] if n in FASHION else []) for n in EXPERIMENTS])
def test_experiment_runs_shortened(make_cfg, tmp_path, iris_csv, name):
    extra = [f"data.path={iris_csv}", "data.target=species"] if name == "tabular_csv" else []
    train(make_cfg(f"experiment={name}", *SHORT, *extra))
    metrics = read_metrics(tmp_path)
    assert metrics["status"] == "completed" and "test/loss" in metrics and "val/loss" in metrics


def test_experiment_sets_the_d2l_values(make_cfg):
    cfg = make_cfg("experiment=weight_decay", quick=False)
    assert cfg.data.sizes == [20, 100, 100] and cfg.data.batch_size == 5 and cfg.data.num_inputs == 200
    assert cfg.optimizer.lr == 0.003 and cfg.model.init_std == 1.0 and cfg.trainer.max_epochs == 100
    cfg = make_cfg("experiment=dropout_fashion", quick=False)
    assert cfg.model.hidden == [256, 256] and cfg.model.dropout == [0.2, 0.5] and cfg.model.init == "normal"
    # The experiment comes after the top-level values, and the command line after both.
    assert make_cfg("experiment=polynomial_overfit", "optimizer.lr=0.02").optimizer.lr == 0.02


def test_linear_regression_reference(make_cfg, tmp_path):
    """d2l 3.2: errors in w and b about 5e-4 after 3 epochs."""
    train(make_cfg("experiment=linear_regression"))
    metrics = read_metrics(tmp_path)
    assert metrics["params/w_error"] < 0.01 and metrics["params/b_error"] < 0.01


def learned_w(folder) -> list[float]:
    state = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    return state["network.linear.weight"].flatten().tolist()


def test_polynomial_fit_and_underfit_reference(make_cfg, tmp_path):
    """d2l 4.4, full settings (400 epochs): 4 features give w = [4.947, 1.374, -3.294, 5.060] and test loss 0.048;
    2 features underfit (test loss 11.3)."""
    train(make_cfg("experiment=polynomial_fit", f"paths.output_dir={tmp_path / 'fit'}"))
    fit = read_metrics(tmp_path / "fit")
    assert fit["epochs"] == 400 and fit["best_checkpoint"].endswith("epoch399.ckpt")  # the final model is tested
    assert learned_w(tmp_path / "fit") == pytest.approx([5, 1.2, -3.4, 5.6], abs=0.6)
    assert fit["test/loss"] < 0.1
    train(make_cfg("experiment=polynomial_underfit", f"paths.output_dir={tmp_path / 'underfit'}"))
    assert read_metrics(tmp_path / "underfit")["test/loss"] >= 10 * fit["test/loss"]


def test_weight_decay_reference(make_cfg, tmp_path):
    """d2l 4.5: lambda 3 against 0 lowers the test loss (72.8 -> 0.092) and the weight norm (14.2 -> 0.44)."""
    results = {}
    for l2 in (0, 3):
        train(make_cfg("experiment=weight_decay", f"regularization.l2={l2}", f"paths.output_dir={tmp_path / str(l2)}"))
        results[l2] = read_metrics(tmp_path / str(l2))
    assert results[3]["test/loss"] < results[0]["test/loss"] / 10
    assert results[3]["params/weight_norm"] < results[0]["params/weight_norm"] / 10


def test_polynomial_data_is_d2ls(make_cfg):
    from hydra.utils import instantiate

    dm = instantiate(make_cfg("data=polynomial", "data.num_features=20", "data.noise=0").data)
    dm.setup()
    x, y = dm.splits["train"]
    assert x.shape == (100, 20) and dm.num_features == 20 and dm.true_params["w"][:5] == [5.0, 1.2, -3.4, 5.6, 0.0]
    assert torch.allclose(x[:, 2], x[:, 1] ** 2 / 2) and torch.allclose(x[:, 0], torch.ones(100))  # x^i / i!
    assert torch.allclose(
        y, x[:, :4] @ torch.tensor([5.0, 1.2, -3.4, 5.6]), atol=1e-5
    )  # noise 0: exactly the polynomial


def test_iris_and_its_splits_are_scikit_learns():
    """Iris is read, and split, without importing scikit-learn (half a second of start-up), as scikit-learn would."""
    import builtins
    from unittest import mock

    import numpy as np
    from sklearn.datasets import load_digits, load_iris
    from sklearn.model_selection import train_test_split

    from litlab.data.base import stratified_split
    from litlab.data.iris import IrisDataModule

    imported, real_import = [], builtins.__import__

    def spy(name, *args, **kwargs):
        imported.append(name)
        return real_import(name, *args, **kwargs)

    dm = IrisDataModule(sizes=[120, 15, 15], seed=7, normalize="none")
    with mock.patch("builtins.__import__", spy):
        dm.setup()
    assert imported and not [name for name in imported if name.startswith("sklearn")]
    x, y = load_iris(return_X_y=True)

    def by_scikit_learn(y, sizes, seed):
        rest, parts = np.arange(len(y)), []
        for i, size in enumerate(sizes):
            if size == len(rest):
                return [*parts, rest]
            take, rest = train_test_split(rest, train_size=size, stratify=y[rest], random_state=seed + i)
            parts.append(take)
        return parts

    expected = by_scikit_learn(y, [120, 15, 15], 7)
    for (name, (features, labels)), idx in zip(dm.splits.items(), expected):
        assert torch.equal(features, torch.as_tensor(x[idx], dtype=torch.float32)), name
        assert torch.equal(labels, torch.as_tensor(y[idx])) and labels.dtype == torch.int64, name
    unequal = np.array([0] * 50 + [1] * 7 + [2] * 43)  # ties and small classes: the random tie-breaks count
    for labels in (y, load_digits().target, unequal):
        for seed in range(8):
            for sizes in ([60, 20, 20], [30, 35], [10, 10, 10], [len(labels) - 20, 10, 10]):
                try:
                    theirs = by_scikit_learn(labels, sizes, seed)
                except ValueError:  # too few of a class left for the last parts: refused in one line here
                    with pytest.raises(LitlabError, match="every class"):
                        stratified_split(labels, sizes, seed)
                    continue
                ours = stratified_split(labels, sizes, seed)
                assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True)), (sizes, seed)


def test_csv_classes_and_stratified_split(iris_csv):
    dm = CSVDataModule(path=str(iris_csv), target="species", split=[0.6, 0.2, 0.2])
    dm.setup()
    assert dm.class_names == ["setosa", "versicolor", "virginica"] and dm.num_features == 4
    sizes = {name: len(y) for name, (_, y) in dm.splits.items()}
    assert sizes == {"train": 90, "val": 30, "test": 30}
    assert torch.bincount(dm.splits["val"][1]).tolist() == [10, 10, 10]  # stratified
    x_train = dm.splits["train"][0]
    assert torch.allclose(x_train.mean(0), torch.zeros(4), atol=1e-5)  # standardised on the training split


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": "no_such.csv", "target": "species"}, "data.path=no_such.csv: no such file"),
        ({"target": "kind"}, "has no column 'kind'; its columns are sepal length (cm)"),
        ({"target": "species", "task": "regression"}, "target column 'species' is not numeric"),
        (
            {"target": "sepal length (cm)", "task": "regression", "split": [0.5, 0.25, 0.25], "max_rows": 3},
            "has 3 rows: too few for a train / val / test split",
        ),
    ],
)
def test_csv_bad_input_is_named(iris_csv, kwargs, message):
    if max_rows := kwargs.pop("max_rows", None):
        iris_csv.write_text("\n".join(iris_csv.read_text().splitlines()[: max_rows + 1]))
    dm = CSVDataModule(**{"path": str(iris_csv), **kwargs})
    with pytest.raises(LitlabError) as error:
        dm.setup()
    assert message in str(error.value)
