"""Callbacks that stop their own process at a given training step.

SIGTERM, as a cluster's scheduler would, or SIGKILL.
"""

import os
import signal

import lightning as L


class SigtermAt(L.Callback):
    def __init__(self, step: int):
        self.step = step  # the global step after which the signal arrives

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


class KillAt(L.Callback):
    """SIGKILL at a given training step: the run ends at once, with no handler, as after `kill -9` or an OOM kill."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class SigkillAfterWrite(L.Callback):
    """SIGKILL (nothing saved, no handler runs) at the first training step after `last.ckpt` appears in `dirpath`."""

    def __init__(self, dirpath: str):
        self.last = os.path.join(dirpath, "last.ckpt")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if os.path.exists(self.last):
            os.kill(os.getpid(), signal.SIGKILL)
