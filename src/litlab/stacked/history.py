"""Every member's metrics of every epoch, as one tensor on the training device: `rows[epoch, member, column]`.

The loop writes an epoch's row of all members at once (the train and val losses and scores, the learning
rates, the weight norm, the parameter errors), without reading anything back. `read` copies the rows not
read yet and a few masks to the host in one transfer: the loop calls it once per validation. The writer
turns the host copy into each member's TensorBoard points, metrics.json and history.csv.

A column is logged at an epoch when its stage ran then: train columns and params/* every epoch, val
columns at the epochs that validated, the learning rates (`lr/pgK`, named per member by its optimizer
when written) at the start of every epoch. NaN in a logged column is a value (a run can log NaN).
"""

import time

import numpy as np
import torch

LR = "lr/pg"  # the learning rate of parameter group K is column f"lr/pg{K}"


class History:
    def __init__(self, columns: list[str], epochs: int, members: int, device: torch.device):
        self.columns = list(columns)
        self.index = {name: i for i, name in enumerate(self.columns)}
        self.rows = torch.full((epochs, members, len(self.columns)), float("nan"), device=device)
        self.host = np.full((epochs, members, len(self.columns)), np.nan, dtype=np.float32)
        self.read_upto = 0  # epochs [0, read_upto) are on the host
        self.validated = np.zeros(epochs, dtype=bool)  # the epochs whose val columns were logged
        self.trained = np.zeros(epochs, dtype=bool)  # the epochs whose train columns were logged
        self.walltime = np.zeros(epochs)  # when the epoch's metrics were computed (seconds since the epoch)
        self.lr_walltime = np.zeros(epochs)  # when its learning rates were logged (its start)

    def columns_of(self, prefix: str) -> list[str]:
        return [c for c in self.columns if c.startswith(prefix)]

    def record(self, epoch: int, values: dict[str, torch.Tensor]) -> None:
        """Columns `values` (each (N,)) of `epoch`'s row, for every member at once (on the device)."""
        if not values:
            return
        columns = [self.index[name] for name in values]
        self.rows[epoch, :, columns] = torch.stack([v.to(self.rows.dtype) for v in values.values()], dim=1)

    def record_lr(self, epoch: int, lrs: torch.Tensor) -> None:
        """The learning rates at the start of `epoch`, (N, groups)."""
        self.lr_walltime[epoch] = time.time()
        self.rows[epoch, :, self.index[f"{LR}1"] : self.index[f"{LR}1"] + lrs.shape[1]] = lrs

    def epoch_done(self, epoch: int, validated: bool) -> None:
        self.trained[epoch], self.validated[epoch] = True, validated
        self.walltime[epoch] = time.time()

    def read(self, upto: int, *extra: torch.Tensor) -> list[np.ndarray]:
        """Rows up to epoch `upto` (excluded) onto the host, with `extra` tensors: one transfer. The extras back."""
        new = self.rows[self.read_upto : upto]
        parts = [new.reshape(-1), *(t.reshape(-1).to(self.rows.dtype) for t in extra)]
        flat = torch.cat(parts).cpu().numpy()
        self.host[self.read_upto : upto] = flat[: new.numel()].reshape(new.shape)
        self.read_upto = max(self.read_upto, upto)
        out, offset = [], new.numel()
        for t in extra:
            out.append(flat[offset : offset + t.numel()].reshape(t.shape))
            offset += t.numel()
        return out
