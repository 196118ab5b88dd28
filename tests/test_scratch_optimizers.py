"""Each `optimizer=scratch_*` takes the same 20 steps as its `torch.optim` twin, to 1e-6.

The twin is the option without `scratch_` (scratch_adam -> adam), composed from the real config with the
same overrides; both train the same MLP on the same batches through the system's own parameter groups,
so the per-group weight decay (regularization.l2 on weights, none on biases) is exercised too.
"""

import pytest
import torch
from conftest import CONF, read_metrics
from hydra.utils import instantiate

from litlab.models.mlp import MLP
from litlab.run import train
from litlab.systems.classifier import Classifier

SCRATCH = sorted(path.stem for path in (CONF / "optimizer").glob("scratch_*.yaml"))
VARIANTS = [(name, []) for name in SCRATCH] + [
    ("scratch_momentum", ["optimizer.nesterov=true"]),
    ("scratch_momentum", ["optimizer.dampening=0.5"]),
    ("scratch_adagrad", ["optimizer.lr_decay=0.01", "optimizer.initial_accumulator_value=0.1"]),
    ("scratch_rmsprop", ["optimizer.centered=true", "optimizer.momentum=0.9", "optimizer.lr=0.01"]),
    ("scratch_adam", ["optimizer.amsgrad=true", "optimizer.lr=0.01"]),
]


def test_every_family_has_a_scratch_option():
    assert SCRATCH == [
        "scratch_adadelta",
        "scratch_adagrad",
        "scratch_adam",
        "scratch_momentum",
        "scratch_rmsprop",
        "scratch_sgd",
    ]


def train_20_steps(optimizer_factory, l2: float) -> tuple[dict, dict]:
    """The network's parameters before and after 20 minibatch steps."""
    torch.manual_seed(0)
    network = MLP(4, 3, hidden=[8], activation="tanh")
    before = {k: v.detach().clone() for k, v in network.state_dict().items()}
    system = Classifier(network, optimizer_factory, num_classes=3, l2=l2)
    optimizer = system.configure_optimizers()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(160, 4, generator=g), torch.randint(0, 3, (160,), generator=g)
    for step in range(20):
        batch = (x[step % 10 * 16 :][:16], y[step % 10 * 16 :][:16])
        optimizer.zero_grad()
        system.training_step(batch, step).backward()
        optimizer.step()
    return before, {k: v.detach().clone() for k, v in network.state_dict().items()}


@pytest.mark.parametrize(("option", "overrides"), VARIANTS, ids=[" ".join([o, *v]) for o, v in VARIANTS])
def test_scratch_optimizer_equals_its_torch_twin(make_cfg, option, overrides):
    scratch_cfg = make_cfg(f"optimizer={option}", *overrides)
    twin_cfg = make_cfg(f"optimizer={option.removeprefix('scratch_')}", *overrides)
    assert scratch_cfg.optimizer._target_.startswith("litlab.optim.scratch.")
    assert twin_cfg.optimizer._target_.startswith("torch.optim.")
    assert {k: v for k, v in scratch_cfg.optimizer.items() if k != "_target_"} == {
        k: v for k, v in twin_cfg.optimizer.items() if k != "_target_"
    }

    _, scratch = train_20_steps(instantiate(scratch_cfg.optimizer), l2=0.01)
    start, twin = train_20_steps(instantiate(twin_cfg.optimizer), l2=0.01)
    for name, value in twin.items():
        assert not torch.equal(value, start[name]), f"{name} did not move: the comparison would prove nothing"
        torch.testing.assert_close(scratch[name], value, rtol=0, atol=1e-6, msg=f"{option}: {name}")


def test_scratch_optimizer_runs_like_its_twin_through_lightning(make_cfg, tmp_path):
    """A whole run, with a scheduler, weight decay and the lr monitor: the same metrics as the built-in optimizer."""
    results = {}
    for option in ("adam", "scratch_adam"):
        cfg = make_cfg(
            "data=iris",
            "model=mlp",
            f"optimizer={option}",
            "optimizer.lr=0.01",
            "scheduler=step",
            "scheduler.step_size=1",
            "regularization=l2",
            "trainer.max_epochs=4",
            f"paths.output_dir={tmp_path / option}",
        )
        train(cfg)
        results[option] = read_metrics(tmp_path / option)
    assert results["scratch_adam"]["lr-ScratchAdam/pg1"] == results["adam"]["lr-Adam/pg1"] < 0.01  # decayed
    for key, value in results["adam"].items():
        if key.startswith(("train/", "val/", "test/", "params/")):
            assert results["scratch_adam"][key] == pytest.approx(value, abs=1e-5), key
