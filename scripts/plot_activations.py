"""ReLU, sigmoid, tanh and leaky ReLU with their derivatives, computed by autograd (d2l 5.1.2), in one PNG.

python scripts/plot_activations.py                      # writes outputs/activations.png
python scripts/plot_activations.py --out act.png --leaky-slope 0.1
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def activations(slope: float) -> dict:
    return {
        "ReLU": torch.relu,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        f"leaky ReLU (slope {slope:g})": lambda x: F.leaky_relu(x, slope),
    }


def value_and_derivative(fn, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """f(x) and f'(x): each output depends only on its own input, so the gradient of sum f(x) is f'(x)."""
    x = x.clone().requires_grad_()
    y = fn(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    return y.detach(), dy


def plot(out: Path, slope: float = 0.1, lo: float = -6.0, hi: float = 6.0) -> Path:
    x = torch.linspace(lo, hi, 1201)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    for ax, (name, fn) in zip(axes.flat, activations(slope).items()):
        y, dy = value_and_derivative(fn, x)
        ax.plot(x, y, label=f"{name.split(' (')[0]}(x)", linewidth=2)
        ax.plot(x, dy, label="derivative (autograd)", linestyle="--", linewidth=2)
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.axvline(0, color="grey", linewidth=0.5)
        ax.set_title(name)
        ax.legend(loc="best")
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("x")
    fig.suptitle("Activation functions and their derivatives")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/activations.png"), help="the PNG to write")
    parser.add_argument("--leaky-slope", type=float, default=0.1, help="leaky ReLU's slope for x < 0")
    args = parser.parse_args(argv)
    print(f"wrote {plot(args.out, args.leaky_slope)}")


if __name__ == "__main__":
    main()
