"""The network's summary when training starts: the device, its layers and its parameter count.

Lightning's own summary describes the whole LightningModule: beside the network it lists the system's
metric containers, a FLOPs column (0 without an `example_input_array`) and counts of modules in train and
eval mode. This one keeps the rows that tell a user what is being trained, and logs them (console and
train.log):

    MLP on cpu: 2.1 K parameters (2.1 K trainable)
      net.0  Flatten       0
      net.1  Linear      1.3 K
      ...
"""

import logging

import lightning as L
from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities.model_summary import get_human_readable_count, summarize

log = logging.getLogger("litlab")


class NetworkSummary(ModelSummary):
    def __init__(self, network: str = "network"):
        """network: the system's attribute that holds the network."""
        super().__init__(max_depth=-1)
        self.network = network

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            log.info("%s", self.text(pl_module, trainer.strategy.root_device.type))

    def text(self, pl_module: L.LightningModule, device: str) -> str:
        summary = summarize(pl_module, max_depth=-1)
        prefix = f"{self.network}."
        rows = [
            (name.removeprefix(prefix), kind, get_human_readable_count(count))
            for name, kind, count in zip(summary.layer_names, summary.layer_types, summary.param_nums)
            if name.startswith(prefix) and not any(other.startswith(f"{name}.") for other in summary.layer_names)
        ]
        network = getattr(pl_module, self.network)
        total = sum(p.numel() for p in network.parameters())
        trainable = sum(p.numel() for p in network.parameters() if p.requires_grad)
        head = (
            f"{type(network).__name__} on {device}: {get_human_readable_count(total)} parameters "
            f"({get_human_readable_count(trainable)} trainable)"
        )
        widths = [max((len(row[i]) for row in rows), default=0) for i in range(3)]
        lines = [f"  {n:<{widths[0]}}  {k:<{widths[1]}}  {c:>{widths[2]}}".rstrip() for n, k, c in rows]
        return "\n".join([head, *lines])
