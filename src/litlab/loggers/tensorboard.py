"""Lightning's `TensorBoardLogger`, writing its scalars every `flush_interval` seconds instead of after every epoch.

Lightning hands the logger each epoch's metrics (`log_metrics`) and then asks it to save (`save`), which
makes TensorBoard's writer thread take every scalar and flush the event file to disk: a few thread
hand-overs and a file flush per epoch, which on a run whose epochs take milliseconds is a real share of
the epoch. This logger keeps the metrics in memory and hands them to the writer, at the same tags and
steps, at the first `save` after `flush_interval` seconds, and always when the run ends or stops on an
exception (`finalize`), before hyperparameters are logged, and when anything reads the writer itself
(`experiment`: the prediction grid, the HParams record).

The interval checkpoint (callbacks/interval_checkpoint.py) asks for a write at the next `save` whenever it
writes its files (`write_at_next_save`): Lightning saves the logger right after the epoch's training metrics,
so the event file always reaches at least the epoch of the last `last.ckpt`, and a resume from it leaves no gap.

What a process killed outright (SIGKILL, a power cut) loses: the scalars of its last `flush_interval`
seconds at most. Ctrl-C, SIGTERM and errors inside the run lose nothing: Lightning finalizes its loggers.
`flush_interval=0` writes after every epoch, as Lightning's own logger does.
"""

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.loggers import TensorBoardLogger as LightningTensorBoardLogger

from litlab.errors import LitlabError


class TensorBoardLogger(LightningTensorBoardLogger):
    def __init__(self, *args: Any, flush_interval: float = 10.0, **kwargs: Any):
        """flush_interval: seconds between writes of the held scalars; the other arguments are Lightning's."""
        if flush_interval < 0:
            raise LitlabError(
                f"logger.flush_interval={flush_interval}: use 0 or more (seconds between writes of the "
                "scalars to the event file; 0 writes after every epoch)"
            )
        super().__init__(*args, **kwargs)
        self.flush_interval = flush_interval
        self._held: list[tuple[dict[str, float], int | None]] = []
        self._written_at = time.monotonic()

    @property
    def experiment(self):
        """TensorBoard's `SummaryWriter`, with the held scalars handed to it first (so events keep their order)."""
        writer = super().experiment
        if self._held:
            self.write_held()
        return writer

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        # Values only: a tensor here would be read on the host at the next write (after more steps).
        self._held.append(({k: v.item() if hasattr(v, "item") else v for k, v in metrics.items()}, step))
        self.save()  # for callers that never call save() (the stacked engine's members)

    @rank_zero_only
    def save(self) -> None:
        if time.monotonic() - self._written_at >= self.flush_interval:
            super().save()  # reads `experiment`, which writes what is held, then flushes the file
            self._written_at = time.monotonic()

    def write_at_next_save(self) -> None:
        """Make the next `save` write what is held, whatever the interval."""
        self._written_at = -float("inf")

    @rank_zero_only
    def log_hyperparams(self, params: Any, metrics: Any = None, step: int | None = None) -> None:
        self.write_held()
        super().log_hyperparams(params, metrics, step)
        # Lightning writes hparams.yaml at a save only while it is missing: the first epoch's save wrote `{}`.
        write_hparams_file(self)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.write_held()  # Lightning's finalize then flushes the file and closes it
        super().finalize(status)

    def write_held(self) -> None:
        """Hand the held scalars to TensorBoard's writer, in the order they were logged."""
        held, self._held = self._held, []
        for metrics, step in held:
            super().log_metrics(metrics, step)


def write_hparams_file(logger: LightningTensorBoardLogger) -> None:
    """The logger's hparams.yaml, as Lightning writes it, with PyYAML's C dumper (Lightning's own goes through
    OmegaConf: about 80 ms for a run's settings)."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    path = Path(logger.log_dir) / logger.NAME_HPARAMS_FILE
    path.write_text(yaml.dump(dict(logger.hparams), Dumper=dumper, sort_keys=False, default_flow_style=False))
