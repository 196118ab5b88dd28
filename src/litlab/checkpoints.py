"""Checkpoint files: written atomically, and read back with a clear message when they are not usable."""

import copy
import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from litlab.errors import LitlabError


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file beside it, then renames it over the old one.

    A kill during the write leaves the previous `last.ckpt` intact. (Lightning's own writer goes
    through a temporary file in the system's temp folder, which is a copy, not a rename, when that
    folder is on another file system, as a tmpfs /tmp is.)
    """

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def read_checkpoint(path: str | Path, key: str = "ckpt_path", weights_only: bool = False) -> dict:
    """The checkpoint at `path`, or a `LitlabError` saying why it cannot be used.

    `key` is the config key that named the file, for the message; `weights_only` is torch.load's.
    """
    path = Path(path)
    if not path.is_file():
        raise LitlabError(f"{key}={path}: no such file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise LitlabError(
            f"{key}={path} cannot be read as a checkpoint ({reason}): the file is truncated or is "
            "not a checkpoint; use another one, e.g. an epochNNN.ckpt beside it"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise LitlabError(f"{key}={path} is not a Lightning checkpoint (it has no state_dict)")
    return checkpoint


def resume_checkpoint(ckpt_path: str | None, resume: str | None) -> str | None:
    """The checkpoint `trainer.fit` continues from: `ckpt_path`, or `resume`'s checkpoints/last.ckpt; checked."""
    if ckpt_path and resume:
        raise LitlabError(
            "ckpt_path and resume both set: resume=RUN_DIR continues a run in its folder, "
            "ckpt_path=FILE continues from a checkpoint in a new folder; give one"
        )
    if resume:
        if not Path(resume).is_dir():
            raise LitlabError(f"resume={resume}: no such run folder")
        ckpt_path, key = str(Path(resume) / "checkpoints" / "last.ckpt"), "resume"
    else:
        key = "ckpt_path"
    if ckpt_path:
        checkpoint = read_checkpoint(ckpt_path, key)
        if checkpoint.get("stacked") and "loops" not in checkpoint:
            # A stacked member's checkpoint from before they carried Lightning's loop state
            # (litlab/stacked/progress.py).
            raise LitlabError(
                f"{key}={ckpt_path} was written by an older stacked sweep (hydra/launcher=stacked) "
                f"without the loop state a resume needs; start a new run from its weights with "
                f"init_from={ckpt_path}"
            )
    return ckpt_path


def copy_checkpoint(value: Any) -> Any:
    """A copy of a checkpoint (or a state dict in it) that training can no longer change: tensors cloned,
    containers rebuilt (a tenth of copy.deepcopy's time), other objects deep-copied."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        copied = copy.copy(value)  # keeps the mapping's type (OrderedDict state dicts, AttributeDict)
        for key, item in value.items():
            copied[key] = copy_checkpoint(item)
        return copied
    if isinstance(value, ATOMS):
        return value
    if type(value) is tuple and all(isinstance(item, ATOMS) for item in value):
        return value  # immutable already: Python's RNG state is a tuple of 625 ints
    if type(value) in (list, tuple):
        return type(value)(copy_checkpoint(item) for item in value)
    return copy.deepcopy(value)


ATOMS = (int, float, str, bool, type(None))


def epochs_trained(checkpoint: dict) -> int:
    """How many epochs of training a checkpoint holds.

    Its `epoch` is the epoch counter when it was written: the epoch under way for a checkpoint written
    after a validation (`epoch007.ckpt`: 8 epochs trained), the count itself for `last.ckpt` written when
    training ended. The fit loop's count of processed epochs is right for both.
    """
    progress = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {}).get("current", {})
    return progress.get("processed", checkpoint.get("epoch", -1) + 1)
