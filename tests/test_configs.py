"""Every option of every config group composes, and what it names can be built."""

import pytest
from conftest import CONF
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from litlab.finetune import network_config

GROUPS = ["data", "model", "optimizer", "regularization", "scheduler", "accelerator", "logger", "callbacks"]
OPTIONS = [(group, path.stem) for group in GROUPS for path in sorted((CONF / group).glob("*.yaml"))]


def test_every_group_has_options():
    for group in GROUPS:
        assert any(g == group for g, _ in OPTIONS), f"conf/{group}/ has no options"


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes(make_cfg, group, option):
    cfg = make_cfg(f"{group}={option}")
    node = cfg[group]
    # Each option of a typed group carries its schema, so typos in any of them are caught (test_checks.py).
    # scheduler=none and logger=none are empty on purpose; the callbacks group has no schema.
    if node and group != "callbacks":
        assert OmegaConf.get_type(node).__name__.endswith("Conf"), f"{group}={option} has no schema"
    if group == "optimizer":
        optimizer = instantiate(node)([nn.Parameter(nn.init.ones_(nn.Linear(2, 2).weight))])
        assert optimizer.defaults["lr"] == node.lr
    elif group == "model":
        assert isinstance(instantiate(network_config(node), in_features=4, out_features=3), nn.Module)
    elif group == "regularization":
        assert set(node) >= {"l1", "l2"} and node.l1 >= 0 and node.l2 >= 0
    elif group == "data":
        assert node.batch_size >= 1 and instantiate(node).task in ("classification", "regression")


def test_defaults_reproduce_d2l_mlp(make_cfg):
    cfg = make_cfg(quick=False)
    assert cfg.data._target_.endswith("FashionMNISTDataModule") and cfg.data.batch_size == 256
    assert cfg.model.hidden == [256] and cfg.model.activation == "relu"
    assert cfg.optimizer._target_ == "torch.optim.SGD" and cfg.optimizer.lr == 0.1
    assert cfg.trainer.max_epochs == 10 and cfg.seed == 42


def test_trainer_takes_any_lightning_argument(make_cfg):
    """`trainer.X=...` works without `+` for every Trainer argument not set by another group."""
    import inspect

    import lightning as L

    cfg = make_cfg()
    from_groups = {"self", "accelerator", "devices", "strategy", "num_nodes", "logger", "callbacks"}
    expected = set(inspect.signature(L.Trainer.__init__).parameters) - from_groups
    assert expected <= set(cfg.trainer), f"missing in conf/train.yaml trainer: {expected - set(cfg.trainer)}"
