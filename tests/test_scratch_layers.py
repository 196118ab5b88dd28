"""`model.impl=scratch`: hand-written softmax cross-entropy, linear layers, activations and dropout agree with torch."""

import pytest
import torch
import torch.nn.functional as F
from conftest import read_metrics

from litlab.models import scratch
from litlab.models.mlp import ACTIVATIONS, MLP
from litlab.run import train
from litlab.systems.classifier import Classifier
from litlab.systems.cross_entropy import cross_entropy, softmax


def both_with_grads(fn_a, fn_b, x: torch.Tensor, *args):
    """Values of fn_a(x) and fn_b(x) and their gradients with respect to x (for the sum of the outputs)."""
    results = []
    for fn in (fn_a, fn_b):
        x_ = x.clone().requires_grad_()
        value = fn(x_, *args)
        value.sum().backward()
        results.append((value.detach(), x_.grad))
    return results


@pytest.mark.parametrize(
    "logits",
    [
        pytest.param(lambda g: torch.randn(64, 10, generator=g), id="randn"),
        pytest.param(lambda g: 1e4 + torch.randn(64, 10, generator=g), id="1e4+randn"),  # exp(1e4) is inf
        pytest.param(lambda g: 1e4 * torch.randn(64, 10, generator=g, dtype=torch.float64), id="1e4*randn"),
    ],
)
def test_scratch_cross_entropy_equals_torch(logits):
    o = logits(torch.Generator().manual_seed(0))
    y = torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(1))
    (ours, our_grad), (theirs, their_grad) = both_with_grads(cross_entropy, F.cross_entropy, o, y)
    assert torch.isfinite(ours) and torch.isfinite(our_grad).all()
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    torch.testing.assert_close(our_grad, their_grad, rtol=0, atol=1e-6)
    torch.testing.assert_close(softmax(o), torch.softmax(o, dim=-1), rtol=0, atol=1e-6)


@pytest.mark.parametrize("activation", ACTIVATIONS.values())
def test_scratch_activations_equal_torch_values_and_derivatives(activation):
    x = torch.cat([torch.linspace(-200, 200, 4001), torch.zeros(1)])  # float32 exp overflows beyond 88
    (ours, our_grad), (theirs, their_grad) = both_with_grads(
        getattr(scratch, activation)(), getattr(torch.nn, activation)(), x
    )
    assert torch.isfinite(our_grad).all()
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    torch.testing.assert_close(our_grad, their_grad, rtol=0, atol=1e-6)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_scratch_mlp_forward_and_gradients_equal_nn_mlp(activation):
    torch.manual_seed(0)
    ours = MLP(20, 5, hidden=[16, 8], activation=activation, impl="scratch")
    torch.manual_seed(0)
    theirs = MLP(20, 5, hidden=[16, 8], activation=activation)
    # Same names and shapes, and the same seed draws the same initial weights (the bound 1/sqrt(in) aside).
    for (name, ours_p), (their_name, their_p) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == their_name
        torch.testing.assert_close(ours_p, their_p, rtol=0, atol=1e-7)
    ours.load_state_dict(theirs.state_dict())
    x, y = torch.randn(32, 20), torch.randint(0, 5, (32,))
    out_ours, out_theirs = ours(x), theirs(x)
    torch.testing.assert_close(out_ours, out_theirs, rtol=0, atol=1e-6)
    cross_entropy(out_ours, y).backward()
    F.cross_entropy(out_theirs, y).backward()
    for (name, ours_p), (_, their_p) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert their_p.grad.abs().sum() > 0
        torch.testing.assert_close(ours_p.grad, their_p.grad, rtol=0, atol=1e-6, msg=name)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_scratch_dropout_keeps_the_mean_and_zeros_a_fraction_p(p):
    torch.manual_seed(0)
    x = torch.rand(1_000_000) + 0.5
    out = scratch.Dropout(p).train()(x)
    assert abs(out.mean() / x.mean() - 1) < 0.01
    assert abs((out == 0).float().mean() - p) < 0.003  # the fraction's std is sqrt(p(1-p)/1e6) <= 5e-4
    kept = out != 0
    torch.testing.assert_close(out[kept], x[kept] / (1 - p))


def test_scratch_dropout_limits_and_eval_mode():
    x = torch.randn(1000)
    assert torch.equal(scratch.Dropout(0.0).train()(x), x)
    assert torch.equal(scratch.Dropout(1.0).train()(x), torch.zeros_like(x))
    assert torch.equal(scratch.Dropout(0.5).eval()(x), x)
    with pytest.raises(ValueError, match="between 0 and 1"):
        scratch.Dropout(1.5)


@pytest.mark.parametrize("model", ["softmax", "mlp"])
def test_scratch_and_torch_runs_agree(make_cfg, tmp_path, model):
    """`model.impl=scratch` trains the same network as `model.impl=torch`: same seed, same metrics."""
    results = {}
    for impl in ("torch", "scratch"):
        cfg = make_cfg(
            "data=iris",
            f"model={model}",
            f"model.impl={impl}",
            "trainer.max_epochs=3",
            f"paths.output_dir={tmp_path / impl}",
        )
        train(cfg)
        results[impl] = read_metrics(tmp_path / impl)
    keys = [k for k in results["torch"] if k.startswith(("train/", "val/", "test/"))]
    assert keys and results["torch"]["train/loss"] > 0.1
    for key in keys:
        assert results["scratch"][key] == pytest.approx(results["torch"][key], abs=1e-5), key


@pytest.mark.parametrize(("impl", "loss"), [("torch", F.cross_entropy), ("scratch", cross_entropy)])
def test_the_classifier_trains_a_scratch_network_with_the_scratch_cross_entropy(impl, loss):
    system = Classifier(MLP(4, 3, hidden=[8], impl=impl), torch.optim.SGD, num_classes=3)
    assert system.cross_entropy is loss
