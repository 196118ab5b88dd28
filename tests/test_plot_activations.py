"""scripts/plot_activations.py writes one PNG of the four activations and their autograd derivatives."""

import importlib.util

import torch
from conftest import ROOT
from matplotlib.image import imread

spec = importlib.util.spec_from_file_location("plot_activations", ROOT / "scripts" / "plot_activations.py")
plot_activations = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plot_activations)


def test_writes_one_png_with_four_panels(tmp_path, capsys):
    out = tmp_path / "figures" / "activations.png"
    plot_activations.main(["--out", str(out)])
    assert f"wrote {out}" in capsys.readouterr().out
    image = imread(out)
    assert image.shape[:2] == (700, 1000) and image.std() > 0.05  # drawn, not blank
    assert len(plot_activations.activations(0.1)) == 4


def test_autograd_derivatives_are_the_textbook_ones():
    x = torch.linspace(-6, 6, 101)
    fns = plot_activations.activations(0.1)
    _, d_sigmoid = plot_activations.value_and_derivative(fns["sigmoid"], x)
    _, d_tanh = plot_activations.value_and_derivative(fns["tanh"], x)
    _, d_relu = plot_activations.value_and_derivative(fns["ReLU"], x)
    torch.testing.assert_close(d_sigmoid, torch.sigmoid(x) * (1 - torch.sigmoid(x)))
    torch.testing.assert_close(d_tanh, 1 - torch.tanh(x) ** 2)
    torch.testing.assert_close(d_relu, (x > 0).float())
