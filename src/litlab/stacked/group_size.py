"""How many jobs one stacked group trains: `hydra.launcher.max_members`, a number or `auto` (the default).

`auto` fits as many members as the device's free memory allows: on a GPU its free memory
(`torch.cuda.mem_get_info`), on a CPU the available RAM (psutil). A member's share is measured on one member
built as the group will build it: its parameters, their gradients, its optimizer's state (after one step),
the tensors autograd keeps for one training batch and the data splits it holds (counted for every member,
though members with the same seed share theirs). Half the free memory is used, the rest left as a margin
(allocator caches, the files being written, the rest of the process). A number caps the group at that
many members and measures nothing.
"""

import copy
import logging
import tempfile
from dataclasses import dataclass

import torch
from omegaconf import DictConfig

from litlab.errors import LitlabError

log = logging.getLogger("litlab.stacked")

MARGIN = 0.5  # the share of free memory a group may take


@dataclass
class Footprint:
    """Bytes one member takes on the training device."""

    parameters: int
    gradients: int
    optimizer: int
    activations: int
    data: int

    @property
    def total(self) -> int:
        return self.parameters + self.gradients + self.optimizer + self.activations + self.data

    def __str__(self) -> str:
        parts = ("parameters", "gradients", "optimizer", "activations", "data")
        return ", ".join(f"{name} {_mib(getattr(self, name))}" for name in parts)


def parse(value) -> int | None:
    """`max_members` as a number of members, or None for auto."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1 or (isinstance(value, float) and value != number) or isinstance(value, bool):
        raise LitlabError(f"hydra.launcher.max_members={value} is not allowed: a number of members >= 1, or auto")
    return number


def group_size(max_members, cfg: DictConfig, device: torch.device, jobs: int) -> int:
    """The most members of one group for jobs like `cfg` on `device` (`jobs` of them wait)."""
    number = parse(max_members)
    if number is not None:
        return number
    share = footprint(cfg, device)
    free = available_bytes(device)
    fits = max(1, int(free * MARGIN // max(share.total, 1)))
    log.info(
        "max_members=auto: %d members fit in half of %s free on %s (a member: %s); %d jobs to place",
        fits,
        _mib(free),
        device.type,
        share,
        jobs,
    )
    return fits


def available_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def footprint(cfg: DictConfig, device: torch.device) -> Footprint:
    """One member of `cfg` built as the group builds it (on the CPU), measured."""
    from litlab.run import load_data, system_for

    cfg = copy.deepcopy(cfg)
    cfg.paths.output_dir = tempfile.gettempdir()  # a job's folder is not made yet, and this one writes nothing
    with torch.random.fork_rng(devices=[]):  # the members are seeded when they are built: this one leaves no trace
        torch.manual_seed(int(cfg.get("seed") or 0))
        datamodule = load_data(cfg.data)
        system = system_for(cfg, datamodule)
        trainable = [p for p in system.parameters() if p.requires_grad]
        parameters = sum(_bytes(p) for p in system.parameters())
        gradients = sum(_bytes(p) for p in trainable)
        activations = _activations(system, datamodule)
        optimizer = _optimizer_state(system, trainable)
    splits = getattr(datamodule, "splits", {}) or {}
    data = sum(_bytes(t) for split in splits.values() for t in _tensors(split))
    return Footprint(parameters, gradients, optimizer, activations, data)


def _activations(system, datamodule) -> int:
    """Bytes autograd keeps for the backward pass of one training batch, and the output."""
    saved = []

    def pack(tensor):
        saved.append(_bytes(tensor))
        return tensor

    batch = next(iter(datamodule.train_dataloader()))
    x = batch[0] if isinstance(batch, (list, tuple)) else batch
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = system(x)
    return sum(saved) + 2 * _bytes(output)  # the output and its gradient


def _optimizer_state(system, trainable: list[torch.Tensor]) -> int:
    """Bytes of the member's optimizer state once it has stepped (zero gradients)."""
    configured = system.configure_optimizers()
    optimizer = _first_optimizer(configured)
    if optimizer is None:
        return 0
    for p in trainable:
        p.grad = torch.zeros_like(p)
    optimizer.step()
    return sum(_bytes(t) for state in optimizer.state.values() for t in state.values() if torch.is_tensor(t))


def _first_optimizer(configured):
    if isinstance(configured, torch.optim.Optimizer):
        return configured
    if isinstance(configured, dict):
        return _first_optimizer(configured.get("optimizer"))
    if isinstance(configured, (list, tuple)) and configured:
        return _first_optimizer(configured[0])
    return None


def _tensors(value):
    if torch.is_tensor(value):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


def _bytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


def _mib(n: int) -> str:
    return f"{n / 2**20:.3g} MiB"
