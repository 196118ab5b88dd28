"""Fine-tuning, as in transfer learning: start from a checkpoint's weights, freeze some layers.

`init_from=CKPT` loads the network weights of a litlab checkpoint (any run's `checkpoints/*.ckpt`) before
training; its shapes must match the network's exactly. `model.freeze=[names]` freezes parameters
(`net.1.weight`) or whole layers (`net.1`, `linear`): `requires_grad` off, so the system leaves them out of
the optimizer and the regularization, and Lightning's model summary counts them as non-trainable.
Unlike `ckpt_path` (resume a run: weights, optimizer state, epoch), `init_from` starts a new run.
"""

import logging

from omegaconf import DictConfig, OmegaConf
from torch import nn

from litlab.checkpoints import read_checkpoint
from litlab.errors import LitlabError

log = logging.getLogger("litlab")

RUN_KEYS = ("freeze",)  # model keys for the run, not for the network's constructor


def network_config(model_cfg: DictConfig) -> DictConfig:
    """The model config without `freeze`: what `instantiate` passes to the network's constructor."""
    return OmegaConf.masked_copy(model_cfg, [key for key in model_cfg if key not in RUN_KEYS])


def prepare(network: nn.Module, init_from: str | None = None, freeze: list[str] | None = None) -> None:
    """Load `init_from`'s weights into `network`, then freeze the parameters and layers named in `freeze`."""
    if init_from:
        load_weights(network, init_from)
    if freeze:
        freeze_parameters(network, list(freeze))


def load_weights(network: nn.Module, path: str) -> None:
    """Copy the network weights of a litlab checkpoint into `network`; every name and shape must match."""
    checkpoint = read_checkpoint(path, key="init_from", weights_only=True)
    saved = {k.removeprefix("network."): v for k, v in checkpoint["state_dict"].items() if k.startswith("network.")}
    own = network.state_dict()
    problems = [f"missing {k}" for k in own if k not in saved]
    problems += [f"unexpected {k}" for k in saved if k not in own]
    problems += [
        f"{k} has shape {tuple(saved[k].shape)} in the checkpoint, {tuple(v.shape)} in this model"
        for k, v in own.items()
        if k in saved and saved[k].shape != v.shape
    ]
    if problems:
        raise LitlabError(f"init_from={path} does not fit this model: {'; '.join(problems)}")
    network.load_state_dict(saved)
    log.info("initialised the network from %s", path)


def freeze_parameters(network: nn.Module, names: list[str]) -> None:
    """Turn off `requires_grad` for each named parameter, and for every parameter of each named layer."""
    params = dict(network.named_parameters())
    layers = {name for name, module in network.named_modules() if name and any(True for _ in module.parameters())}
    unknown = [n for n in names if n not in params and n not in layers]
    if unknown:
        raise LitlabError(
            f"model.freeze: no parameter or layer named {', '.join(unknown)}; "
            f"layers: {', '.join(sorted(layers))}; parameters: {', '.join(params)}"
        )
    frozen = [k for k in params if any(k == n or k.startswith(f"{n}.") for n in names)]
    if len(frozen) == len(params):
        raise LitlabError(f"model.freeze={names} freezes every parameter: nothing would be trained")
    for k in frozen:
        params[k].requires_grad_(False)
    log.info("frozen: %s (%d parameters)", ", ".join(frozen), sum(params[k].numel() for k in frozen))
