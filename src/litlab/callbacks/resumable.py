"""Checkpoints a run can be resumed from exactly: RNG states in each, and one saved on Ctrl-C or SIGTERM.

Lightning's checkpoints already hold the weights, optimizer, scheduler, loop counters and callback
states; the data order follows from (seed, epoch) and the position in the epoch (litlab/data/batching.py).
What they lack are the random number generators (dropout masks): they are added here.
On Ctrl-C or SIGTERM (Lightning stops SIGTERM at the end of the current batch) the state of that
moment is written as `last.ckpt`, so `python train.py resume=RUN_DIR` continues from it. (Between
interruptions `last.ckpt` is written every few seconds: callbacks/interval_checkpoint.py.)
"""

import logging
import random
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger("litlab")


class Resumable(L.Callback):
    def __init__(self, dirpath: str):
        self.dirpath = Path(dirpath)  # where last.ckpt lives (the ModelCheckpoint's folder)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint["rng_states"] = rng_states()

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        if "rng_states" in checkpoint:
            set_rng_states(checkpoint["rng_states"])

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, (KeyboardInterrupt, SIGTERMException)) or trainer.sanity_checking:
            return
        path = self.dirpath / "last.ckpt"
        trainer.save_checkpoint(path, weights_only=False)
        run_dir = self.dirpath.parent
        log.warning(
            "interrupted at epoch %d, step %d; saved %s. Resume with: python train.py resume=%s",
            trainer.current_epoch,
            trainer.global_step,
            path,
            run_dir,
        )


def rng_states() -> dict:
    """Python's, NumPy's and torch's generator states, as tensors and tuples (loadable with weights_only)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.copy()), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_initialized():  # not is_available(): that asks the driver again on every call (~0.3 ms)
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy(), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
