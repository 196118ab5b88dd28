"""Training throughput: the wall time and sample count of each training epoch, validation excluded.

`scripts/bench.py` adds it to a run; `python train.py +callbacks.timer._target_=litlab.callbacks.timing.TrainTimer`
adds it to any run (`first_step_file=PATH` also records when the first training step began).
"""

import json
import time
from pathlib import Path

import lightning as L
import torch


class TrainTimer(L.Callback):
    def __init__(self, first_step_file: str | None = None):
        self.first_step_file = first_step_file
        self.epochs: list[dict] = []  # per epoch: {"seconds": ..., "samples": ...}

    @property
    def samples_per_s(self) -> list[float]:
        return [e["samples"] / e["seconds"] for e in self.epochs]

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        wait_for_device(pl_module.device)
        self._samples, self._start, self._end = 0, time.perf_counter(), None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.first_step_file and trainer.global_step == 0 and batch_idx == 0:
            # Unix time, so another process (the one that started this run) can subtract its own clock.
            Path(self.first_step_file).write_text(json.dumps({"first_step_unix_time": time.time()}))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._samples += len(batch[-1])  # a length, not a value: no sync with the device
        if batch_idx + 1 == trainer.num_training_batches:  # the epoch's last step has run
            wait_for_device(pl_module.device)
            self._end = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        end = self._end if self._end is not None else time.perf_counter()  # ended early (max_steps)
        if self._samples:
            self.epochs.append({"seconds": end - self._start, "samples": self._samples})


def wait_for_device(device: torch.device) -> None:
    """Wait for the GPU's queued work, so the clock measures work done rather than work queued."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
