"""`regularization.impl=scratch`: (l2 / 2) * ||w||^2 in the loss takes SGD to the same weights as weight decay l2."""

import torch

from litlab.run import train


def trained_weights(make_cfg, folder, *overrides) -> dict[str, torch.Tensor]:
    """The weights after 20 SGD steps: Iris has 5 batches of 24 per epoch."""
    cfg = make_cfg(
        "data=iris",
        "model=mlp",
        "optimizer=sgd",
        "trainer.max_steps=20",
        "trainer.max_epochs=4",
        f"paths.output_dir={folder}",
        *overrides,
    )
    train(cfg)
    return torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]


def test_l2_penalty_in_the_loss_equals_weight_decay(make_cfg, tmp_path):
    decay = trained_weights(make_cfg, tmp_path / "torch", "regularization=l2", "regularization.l2=0.1")
    penalty = trained_weights(
        make_cfg, tmp_path / "scratch", "regularization=l2", "regularization.l2=0.1", "regularization.impl=scratch"
    )
    plain = trained_weights(make_cfg, tmp_path / "none", "regularization=none")
    assert decay.keys() == penalty.keys() and any(k.startswith("network.") for k in decay)
    for name, value in decay.items():
        torch.testing.assert_close(penalty[name], value, rtol=0, atol=1e-6, msg=name)
        if name.endswith("weight"):  # the regularization made a difference the comparison can see
            assert (value - plain[name]).abs().max() > 1e-4, name
