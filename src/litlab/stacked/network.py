"""The members' networks as one: each weight stacked along a leading member dimension (N, ...).

`StackedNetwork(networks, generators)` takes N networks of one architecture, already initialised as
their single runs initialise them, and stacks their parameters: a linear layer's weight becomes
(N, out, in) and its forward one batched matmul (`torch.baddbmm`) over inputs of shape (N, B, in).
Each member network's parameters are then replaced by views of the stacked tensors, so its optimizer,
`state_dict()` and `weights()` read and write the member's slice: the single-run code keeps working.
Dropout draws each member's masks from that member's own generator, the way torch draws them on a CPU,
with its own rate (a member with rate 0 draws nothing, as its single run has no dropout layer).
"""

import torch
from torch import nn

from litlab.models import scratch


class Unstackable(ValueError):
    """The networks cannot be stacked (another architecture, or one this module does not know)."""


def layers_of(network: nn.Module) -> tuple[list[nn.Module], bool]:
    """The network's layers in forward order, and whether its single output is squeezed to (B,)."""
    from litlab.models.linreg import LinearRegression
    from litlab.models.mlp import MLP
    from litlab.models.softmax import SoftmaxRegression

    if isinstance(network, MLP):
        return list(network.net), network.single_output
    if isinstance(network, (SoftmaxRegression, LinearRegression)):
        return [network.flatten, network.linear], isinstance(network, LinearRegression)
    raise Unstackable(f"{type(network).__name__} has no stacked version")


LINEAR = (nn.Linear, scratch.Linear)
DROPOUT = (nn.Dropout, scratch.Dropout)
FLATTEN = (nn.Flatten, scratch.Flatten)
ELEMENTWISE = (
    nn.ReLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.LeakyReLU,
    scratch.ReLU,
    scratch.Sigmoid,
    scratch.Tanh,
    scratch.LeakyReLU,
)


def _plan(layers: list[nn.Module]) -> tuple[list[nn.Module], dict[int, nn.Module]]:
    """The layers without dropout, and each dropout layer keyed by the count of layers before it."""
    kept, dropouts = [], {}
    for layer in layers:
        if isinstance(layer, DROPOUT):
            dropouts[len(kept)] = layer
        else:
            kept.append(layer)
    return kept, dropouts


def _signature(layer: nn.Module) -> tuple:
    if isinstance(layer, LINEAR):
        return type(layer), tuple(layer.weight.shape), layer.bias is not None
    if isinstance(layer, nn.LeakyReLU | scratch.LeakyReLU):
        return type(layer), layer.negative_slope
    if isinstance(layer, FLATTEN + ELEMENTWISE):
        return (type(layer),)
    raise Unstackable(f"layer {type(layer).__name__} has no stacked version")


class StackedLinear(nn.Module):
    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))  # (N, out, in)
        has_bias = layers[0].bias is not None
        self.bias = (
            nn.Parameter(torch.stack([layer.bias.detach() for layer in layers])) if has_bias else None
        )  # (N, out)
        for m, layer in enumerate(layers):  # each member's parameters become views of its slice
            layer.weight = nn.Parameter(self.weight.detach()[m])
            if has_bias:
                layer.bias = nn.Parameter(self.bias.detach()[m])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, B, in) -> (N, B, out)
        if self.bias is None:
            return torch.bmm(x, self.weight.transpose(1, 2))
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))


class StackedDropout(nn.Module):
    """Per-member dropout: member m keeps a unit with probability 1 - p_m, its mask from its own generator."""

    def __init__(self, layers: list[nn.Module | None], generators: list[torch.Generator]):
        super().__init__()
        self.layers, self.generators = layers, generators

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, B, ...)
        if not self.training:
            return x
        # Members without dropout keep every unit (no draw: their single runs have no dropout layer); each
        # member with dropout draws its mask from its own generator.
        masks, scales = torch.ones_like(x), {}
        for m, (layer, generator) in enumerate(zip(self.layers, self.generators)):
            p = layer.p if layer is not None else 0.0
            if p == 0:
                continue
            if isinstance(layer, nn.Dropout):  # as torch's CPU dropout: bernoulli(1 - p) / (1 - p), times x
                masks[m].bernoulli_(1 - p, generator=generator).div_(1 - p)
            else:  # scratch.Dropout: x * (u >= p) / (1 - p), divided after the product as there
                masks[m] = (torch.rand(x[m].shape, generator=generator, device=x.device) >= p).to(x.dtype)
                scales[m] = 1 - p
        out = x * masks
        if scales:
            divisor = torch.ones(len(x), dtype=x.dtype)
            divisor[list(scales)] = torch.tensor(list(scales.values()), dtype=x.dtype)
            out = out / divisor.to(x.device).view(-1, *[1] * (x.ndim - 1))
        return out


class StackedNetwork(nn.Module):
    def __init__(self, networks: list[nn.Module], generators: list[torch.Generator]):
        super().__init__()
        plans = [layers_of(network) for network in networks]
        self.squeeze = plans[0][1]
        kept = [_plan(layers)[0] for layers, _ in plans]
        dropouts = [_plan(layers)[1] for layers, _ in plans]
        signature = [_signature(layer) for layer in kept[0]]
        for other in kept[1:]:
            if [_signature(layer) for layer in other] != signature:
                raise Unstackable("the members' networks differ in shape")
        modules: list[nn.Module] = []
        for i, layer in enumerate(kept[0]):
            if any(i in d for d in dropouts):
                modules.append(StackedDropout([d.get(i) for d in dropouts], generators))
            if isinstance(layer, LINEAR):
                modules.append(StackedLinear([member[i] for member in kept]))
            else:
                modules.append(layer)  # flatten and elementwise activations act on (N, B, ...) as they are
        if any(len(kept[0]) in d for d in dropouts):
            modules.append(StackedDropout([d.get(len(kept[0])) for d in dropouts], generators))
        self.layers = nn.ModuleList(modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, B, ...) -> (N, B, out), or (N, B) for one output
        for layer in self.layers:
            x = x.reshape(*x.shape[:2], -1) if isinstance(layer, FLATTEN) else layer(x)
        return x.squeeze(-1) if self.squeeze else x
