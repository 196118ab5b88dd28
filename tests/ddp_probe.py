"""A callback for the DDP tests: saves the inputs each rank trained on, one file per rank and epoch."""

from pathlib import Path

import lightning as L
import torch


class SeenSamples(L.Callback):
    def __init__(self, folder: str):
        self.folder, self.rows = Path(folder), []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.rows.append(batch[0].detach().cpu())

    def on_train_epoch_end(self, trainer, pl_module):
        self.folder.mkdir(parents=True, exist_ok=True)
        torch.save(torch.cat(self.rows), self.folder / f"epoch{trainer.current_epoch}_rank{trainer.global_rank}.pt")
        self.rows = []
