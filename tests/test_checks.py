"""Every kind of bad input is refused before training with the key, the value and what is allowed.

Composed as a user's command line would be, and checked by `build` (the config-building function
`train.py` runs), so these stay fast; tests/test_errors.py runs a few through `python train.py` itself.
"""

import gzip
import os

import pytest
from hydra.errors import ConfigCompositionException

from litlab.cli import explain
from litlab.config import schema
from litlab.data.fashion_mnist import FILES
from litlab.errors import LitlabError
from litlab.run import build

BAD_VALUES = [
    (["optimizer.lr=0"], "optimizer.lr=0.0 is not allowed: lr must be > 0"),
    (
        ["optimizer=adam", "optimizer.betas=[0.9,1.5]"],
        "optimizer.betas=[0.9,1.5] is not allowed: betas must be in [0, 1) (every entry)",
    ),
    (["model.dropout=1.0"], "model.dropout=1.0 is not allowed: dropout must be in [0, 1) (every entry)"),
    (
        ["model.hidden=[256,128]", "model.dropout=[0.2,-0.5]"],
        "model.dropout=[0.2,-0.5] is not allowed: dropout must be in [0, 1)",
    ),
    (["data.batch_size=0"], "data.batch_size=0 is not allowed: batch_size must be >= 1"),
    (["model.hidden=[256,0]"], "model.hidden=[256,0] is not allowed: hidden must be >= 1 (every entry)"),
    (["trainer.max_epochs=0"], "trainer.max_epochs=0 is not allowed: max_epochs must be >= 1"),
    (["regularization=l2", "regularization.l2=-0.1"], "regularization.l2=-0.1 is not allowed: l2 must be >= 0"),
    (["regularization.l1=-1"], "regularization.l1=-1.0 is not allowed: l1 must be >= 0"),
    (
        ["model.activation=relux"],
        "model.activation=relux is not allowed: activation must be one of relu, sigmoid, tanh, leaky_relu",
    ),
    (["model.init=he"], "model.init=he is not allowed: init must be one of default, normal, xavier, kaiming"),
    (
        ["data=iris", "data.normalize=zscore"],
        "data.normalize=zscore is not allowed: normalize must be one of standard, minmax, none",
    ),
    (["data=iris", "data.sizes=[120,0,15]"], "data.sizes=[120,0,15] is not allowed: sizes must be >= 1 (every entry)"),
    (["scheduler=step", "scheduler.gamma=0"], "scheduler.gamma=0.0 is not allowed: gamma must be > 0"),
    (["data.val_size=60000"], "data.val_size=60000 is not allowed: val_size must be in [1, 59999]"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_VALUES, ids=[o[-1] for o, _ in BAD_VALUES])
def test_bad_value_is_refused(make_cfg, tmp_path, overrides, message):
    with pytest.raises(LitlabError) as refused:
        build(make_cfg(*overrides))
    assert str(refused.value).startswith(message)
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "optimizer.lrr=0.1",
            "optimizer.lrr is not a key; did you mean optimizer.lr?\n"
            "keys of optimizer: lr, momentum, dampening, nesterov",
        ),
        ("trainer.max_epoch=3", "trainer.max_epoch is not a key; did you mean trainer.max_epochs?"),
        ("model.hiden=[64]", "model.hiden is not a key; did you mean model.hidden?"),
        ("scheduler.gamma=0.5", "scheduler.gamma is not a key: scheduler has no keys with this option"),
        ("seed=abc", "seed=abc is not allowed: seed takes an integer"),
        ("model.hidden=[wide]", "model.hidden[0]=wide is not allowed: model.hidden[0] takes an integer"),
    ],
)
def test_typo_or_wrong_type_is_refused_while_composing(make_cfg, override, message):
    with pytest.raises(ConfigCompositionException) as refused:
        make_cfg(override)
    assert explain(refused.value).startswith(message)


def test_split_sizes_must_fit_the_data(make_cfg):
    with pytest.raises(LitlabError, match=r"data.sizes=\[120, 30, 15\] needs 165 samples but the data set has 150"):
        build(make_cfg("data=iris", "data.sizes=[120,30,15]"))


def test_schema_names_match_the_models():
    from litlab.models.init import INITS
    from litlab.models.linreg import SOLVERS
    from litlab.models.mlp import ACTIVATIONS
    from litlab.models.scratch import IMPLS

    assert schema.ACTIVATIONS == tuple(ACTIVATIONS) and schema.INITS == INITS
    assert schema.IMPLS == IMPLS and schema.SOLVERS == SOLVERS


# -- data files ------------------------------------------------------------------------------------
def fashion(tmp_path, *extra):
    system, data = tmp_path / "system", tmp_path / "data"
    system.mkdir(exist_ok=True)
    return ["data=fashion_mnist", f"data.system_dir={system}", f"paths.data_dir={data}", "data.download=false", *extra]


def test_fashion_mnist_missing_names_three_ways(make_cfg, tmp_path):
    with pytest.raises(LitlabError) as refused:
        build(make_cfg(*fashion(tmp_path)))
    message = str(refused.value)
    assert f"FashionMNIST not found in {tmp_path / 'data' / 'FashionMNIST' / 'raw'}/" in message
    assert "copy the four IDX files there" in message and "apt-get install dataset-fashion-mnist" in message
    assert "data.download=true" in message


def test_truncated_idx_file_is_named(make_cfg, tmp_path):
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FILES:
        (raw / name).write_bytes(b"\x00\x00\x08\x03\x00\x00\xea\x60")  # an image header, and then nothing
    with pytest.raises(LitlabError) as refused:
        build(make_cfg(*fashion(tmp_path)))
    assert str(refused.value).startswith(f"{raw / 'train-images-idx3-ubyte'} is truncated or corrupt")
    assert "delete it and the next run unpacks or downloads it again" in str(refused.value)


def test_corrupt_gzip_file_is_named(make_cfg, tmp_path):
    system = tmp_path / "system"
    system.mkdir()
    for name in FILES:
        (system / f"{name}.gz").write_bytes(gzip.compress(os.urandom(4096))[:1000])  # cut short
    with pytest.raises(LitlabError) as refused:
        build(make_cfg(*fashion(tmp_path)))
    assert str(refused.value).startswith(f"{system / 'train-images-idx3-ubyte.gz'} is truncated or corrupt")
    assert not list((tmp_path / "data" / "FashionMNIST" / "raw").glob("*"))  # no half-unpacked file left
