"""A callback that sends its own process SIGTERM at a given training step, as a cluster's scheduler would."""

import os
import signal

import lightning as L


class SigtermAt(L.Callback):
    def __init__(self, step: int):
        self.step = step   # the global step after which the signal arrives

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


class SigkillAfterWrite(L.Callback):
    """SIGKILL (nothing saved, no handler runs) at the first training step after `last.ckpt` appears in `dirpath`."""

    def __init__(self, dirpath: str):
        self.last = os.path.join(dirpath, "last.ckpt")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if os.path.exists(self.last):
            os.kill(os.getpid(), signal.SIGKILL)
