"""Value rules for schema fields, and the check that applies them to a composed config.

A schema field declares its rule where it is declared: `lr: float = checked(0.1, Range(0, open_low=True))`.
`check_config(cfg)` walks every typed node and raises a `LitlabError` naming the key, the bad value
and what is allowed: `optimizer.lr=-0.1 is not allowed: lr must be > 0`.
"""

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from litlab.errors import LitlabError


@dataclass(frozen=True)
class Range:
    """low <= value <= high; `open_low` / `open_high` make a bound strict; None means unbounded."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def allows(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return False
        return self.high is None or (value < self.high if self.open_high else value <= self.high)

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.open_low else '>='} {self.low}"
        if self.low is None:
            return f"{'<' if self.open_high else '<='} {self.high}"
        return f"in {'(' if self.open_low else '['}{self.low}, {self.high}{')' if self.open_high else ']'}"


@dataclass(frozen=True)
class OneOf:
    choices: tuple

    def allows(self, value: Any) -> bool:
        return value in self.choices

    def __str__(self) -> str:
        return "one of " + ", ".join(map(str, self.choices))


@dataclass(frozen=True)
class Each:
    """The rule holds for a single value, or for every entry of a list (`model.dropout=[0.2,0.5]`)."""

    rule: Range | OneOf

    def allows(self, value: Any) -> bool:
        values = value if isinstance(value, (list, tuple)) else [value]
        return all(self.rule.allows(v) for v in values)

    def __str__(self) -> str:
        return f"{self.rule} (every entry)"


def checked(default: Any, rule: Range | OneOf | Each) -> Any:
    """A dataclass field with a default and a value rule that `check_config` enforces."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"rule": rule})
    return field(default=default, metadata={"rule": rule})


def check_config(cfg: DictConfig, prefix: str = "") -> None:
    """Raise a `LitlabError` for the first value that breaks its field's rule, anywhere in `cfg`."""
    schema = OmegaConf.get_type(cfg)
    if is_dataclass(schema):
        for f in fields(schema):
            rule = f.metadata.get("rule")
            if rule is None or f.name not in cfg or OmegaConf.is_missing(cfg, f.name):
                continue
            value = cfg[f.name]
            if isinstance(value, (DictConfig, ListConfig)):
                value = OmegaConf.to_container(value, resolve=True)
            if value is not None and not rule.allows(value):
                raise LitlabError(f"{prefix}{f.name}={_show(value)} is not allowed: {f.name} must be {rule}")
    for key in cfg:
        child = cfg._get_node(key)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            check_config(child, f"{prefix}{key}.")


def _show(value: Any) -> str:
    return "[" + ",".join(map(str, value)) + "]" if isinstance(value, list) else str(value)


def check_run(cfg: DictConfig) -> None:
    """Everything about a training config that can be refused before any data is loaded."""
    check_config(cfg)
    check_no_weight_decay(cfg.optimizer)
    check_accelerator(cfg.accelerator.get("accelerator", "auto"))
    check_model_fits_data(cfg)


def check_no_weight_decay(optimizer: DictConfig) -> None:
    """`+optimizer.weight_decay=0.1` is refused: the optimizer's parameter groups set it from regularization.l2."""
    if "weight_decay" in optimizer:
        raise LitlabError(
            f"optimizer.weight_decay={optimizer.weight_decay} is not allowed: weight decay has one place, "
            f"regularization.l2 (weights only, never biases); use regularization.l2={optimizer.weight_decay}"
        )


def check_accelerator(name: str) -> None:
    """`accelerator=gpu` on a machine without one stops here, not deep inside Lightning."""
    if name in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise LitlabError(
                f"accelerator={name} but this machine has no CUDA GPU that torch can use "
                "(torch.cuda.is_available() is False); use accelerator=cpu or accelerator=auto"
            )
    elif name == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise LitlabError(
                "accelerator=mps but this machine has no Apple GPU; use accelerator=cpu or accelerator=auto"
            )


def check_model_fits_data(cfg: DictConfig) -> None:
    """`model=linreg data=iris` stops here, naming the models that fit the data's task."""
    from hydra.utils import get_class

    task = cfg.data.get("task") or get_class(cfg.data._target_).task  # data=csv says its task in the config
    if task in get_class(cfg.model._target_).tasks:
        return
    from hydra import compose
    from hydra.core.global_hydra import GlobalHydra

    options = GlobalHydra.instance().config_loader().get_group_options("model")
    fitting = [
        name
        for name in options
        if task in get_class(compose("train", overrides=[f"model={name}"]).model._target_).tasks
    ]
    model, data = _choice("model", cfg.model._target_), _choice("data", cfg.data._target_)
    raise LitlabError(f"model={model} does not fit data={data} ({task}); models that fit it: {', '.join(fitting)}")


def _choice(group: str, fallback: str) -> str:
    """The option name the user picked for a group (`mlp`), when Hydra knows it."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return HydraConfig.get().runtime.choices.get(group, fallback)
    return fallback
