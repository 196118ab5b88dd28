"""Fine-tuning: `init_from=CKPT` starts from a checkpoint's weights, `model.freeze=[...]` keeps layers fixed."""

import pytest
import torch
from lightning.pytorch.utilities.model_summary import ModelSummary

from litlab.errors import LitlabError
from litlab.run import build, train


def network_state(checkpoint) -> dict[str, torch.Tensor]:
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    return {k.removeprefix("network."): v for k, v in state.items() if k.startswith("network.")}


@pytest.fixture
def pretrained(make_cfg, tmp_path):
    """A short MLP run on Iris: its last checkpoint."""
    train(
        make_cfg(
            "data=iris",
            "model=mlp",
            "model.hidden=[16]",
            "trainer.max_epochs=2",
            f"paths.output_dir={tmp_path / 'pretrained'}",
        )
    )
    return tmp_path / "pretrained" / "checkpoints" / "last.ckpt"


def test_frozen_layer_is_bit_identical_after_training_and_the_rest_changed(make_cfg, tmp_path, pretrained):
    overrides = [
        "data=iris",
        "model=mlp",
        "model.hidden=[16]",
        f"init_from={pretrained}",
        "model.freeze=[net.1]",
        "optimizer=adam",
        "optimizer.lr=0.01",
        "trainer.max_epochs=3",
    ]
    _, system, _ = build(make_cfg(*overrides))
    summary = ModelSummary(system)  # what Lightning prints before training
    assert summary.total_parameters - summary.trainable_parameters == 4 * 16 + 16
    assert all(
        id(p) not in {id(q) for group in system.configure_optimizers().param_groups for q in group["params"]}
        for p in system.network.net[1].parameters()
    )

    train(make_cfg(*overrides, f"paths.output_dir={tmp_path / 'finetuned'}"))
    before, after = network_state(pretrained), network_state(tmp_path / "finetuned" / "checkpoints" / "last.ckpt")
    for name in ("net.1.weight", "net.1.bias"):
        assert torch.equal(after[name], before[name]), name
    for name in ("net.3.weight", "net.3.bias"):
        assert not torch.equal(after[name], before[name]), name


def test_init_from_a_checkpoint_of_another_shape_names_the_mismatch(make_cfg, pretrained):
    with pytest.raises(LitlabError, match=r"net\.1\.weight has shape \(16, 4\) in the checkpoint, \(32, 4\)"):
        build(make_cfg("data=iris", "model=mlp", "model.hidden=[32]", f"init_from={pretrained}"))
    with pytest.raises(LitlabError, match=r"missing net\.5\.weight; missing net\.5\.bias; net\.3\.weight has shape"):
        build(make_cfg("data=iris", "model=mlp", "model.hidden=[16,8]", f"init_from={pretrained}"))


def test_bad_init_from_and_freeze_say_what_is_wrong(make_cfg, tmp_path):
    with pytest.raises(LitlabError, match="init_from=.*no such file"):
        build(make_cfg("data=iris", "model=mlp", f"init_from={tmp_path / 'nothing.ckpt'}"))
    with pytest.raises(LitlabError, match=r"no parameter or layer named net\.9; layers: net, net\.1, net\.3;"):
        build(make_cfg("data=iris", "model=mlp", "model.freeze=[net.9]"))
    with pytest.raises(LitlabError, match="nothing would be trained"):
        build(make_cfg("data=iris", "model=softmax", "model.freeze=[linear]"))
