"""Weight initialisation schemes, by the name a config uses (`model.init=xavier`)."""

from torch import nn

from litlab.models import scratch

INITS = ("default", "normal", "xavier", "kaiming")


def init_weights(module: nn.Module, scheme: str = "default", std: float = 0.01) -> None:
    """Re-initialise every linear layer (`nn.Linear`, `scratch.Linear`) in `module`; biases start at 0 but in `default`.

    default: PyTorch's own (uniform, scaled by fan-in). normal: N(0, std^2), as d2l does.
    xavier: Glorot uniform. kaiming: He normal, for ReLU networks.
    """
    if scheme not in INITS:
        raise ValueError(f"model.init={scheme!r}: use one of {', '.join(INITS)}")
    if scheme == "default":
        return
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, scratch.Linear)):
            if scheme == "normal":
                nn.init.normal_(layer.weight, std=std)
            elif scheme == "xavier":
                nn.init.xavier_uniform_(layer.weight)
            else:
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
