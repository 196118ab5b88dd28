"""Members of a stacked group that continue from their `checkpoints/last.ckpt`, as one group again.

A sweep interrupted by Ctrl-C, SIGTERM or a cluster's preemption leaves each running member a last.ckpt:
an ordinary single-run checkpoint (member.py) at the step where the group stopped. Jobs whose last.ckpt
stands at the same place (`position`) and that would stack anyway are trained on together: the group is
built as a fresh one (seeds, data, blocks of optimizers), then every member's state is put back into its
rows before the loop goes on.

What is restored, per member: its weights and buffers; its optimizer state (the per-number tensors into
its rows of the block's state, the rest as its block shares it) and scheduler; the loop's place (epoch,
batches done in it, steps); its dropout generator (the Resumable callback's torch state); its best
checkpoint so far (the weights of the file ModelCheckpoint names, its score and epoch: the member is tested
with them at the end); the EarlyStopping callback's state; and its metrics of the epochs before (from
history.npy), so metrics.json holds the latest value of each metric, as the uninterrupted run's does.
As in a single run resumed mid-epoch, the interrupted epoch's training metrics average the batches after
the restart; everything later is the uninterrupted run's, to the last digit on a CPU.
"""

from pathlib import Path

import numpy as np
import torch

from litlab.stacked.history import LR


def position(folder: Path) -> tuple[int, int, int] | None:
    """(epoch, batches done in it, steps) of the job's last.ckpt in `folder`; None: nothing to continue from."""
    path = folder / "checkpoints" / "last.ckpt"
    if not path.is_file():
        return None
    try:
        return _place(torch.load(path, map_location="cpu", weights_only=False, mmap=True))
    except Exception:  # not a checkpoint this loop can place: the job resumes as a single run
        return None


def restore(loop) -> None:
    """Each member of `loop` (a StackedLoop built for the group, not trained yet) back at its last.ckpt.

    Every member must have one, and all must stand at the same place (the launcher groups them so)."""
    checkpoints = [_load(member.last_path) for member in loop.members]
    places = {_place(c) for c in checkpoints}
    if len(places) != 1:
        raise ValueError(f"the members' last checkpoints stand at different steps ({sorted(places)})")
    epoch, served, step = places.pop()
    fit = checkpoints[0]["loops"]["fit_loop"]
    if served >= loop.train_batches:  # written after the epoch's validation: the next epoch starts afresh
        epoch, served = epoch + 1, 0
    loop.epoch, loop.resume_batch, loop.step = epoch, served, step
    loop.validated_before = bool(fit["epoch_loop.val_loop.batch_progress"]["is_last_batch"])
    _weights(loop, [c["state_dict"] for c in checkpoints], [p for p, _ in loop.stacked.views])
    for block in loop.blocks:
        _optimizer(block, [checkpoints[m] for m in block.members])
        block.scheduler_steps = int(fit["epoch_loop.scheduler_progress"]["total"]["completed"])
        loop._set_lrs(block)
    for m in loop.moving:  # dropout masks continue the member's stream
        state = checkpoints[m].get("rng_states", {}).get("torch")
        if state is not None:
            loop.members[m].generator.set_state(state)
    if loop.early is not None:
        loop.early.state[:] = _early_rows(loop.early, checkpoints, loop.early.state)
    if loop.best is not None:
        _best(loop, checkpoints)
    _history(loop, epoch)


def _load(path: Path) -> dict:
    if not path.is_file():
        raise ValueError(f"{path} is missing: this member has no checkpoint to continue from")
    return torch.load(path, map_location="cpu", weights_only=False)


def _place(checkpoint: dict) -> tuple[int, int, int]:
    loader = checkpoint["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]
    return int(loader["epoch"]), int(loader["served"]), int(checkpoint["global_step"])


@torch.no_grad()
def _weights(loop, state_dicts: list[dict], stacked: list[torch.Tensor]) -> None:
    """Each member's entries of `state_dicts` into its rows of the stack, and into its buffers."""
    for m, (member, state) in enumerate(zip(loop.members, state_dicts)):
        for key, source in member.weights:
            target = source if isinstance(source, torch.Tensor) else stacked[source][m]
            target.copy_(state[key])


def _optimizer(block, checkpoints: list[dict]) -> None:
    """The block's optimizer state from its members' own: per-number tensors stacked along its rows."""
    states = [c["optimizer_states"][0] for c in checkpoints]
    if not isinstance(block.rows, slice):  # the member's own optimizer over its own views
        block.optimizer.load_state_dict(states[0])
    else:
        first = states[0]
        state = {
            i: {
                key: torch.stack([s["state"][i][key] for s in states])
                if isinstance(value, torch.Tensor) and value.dim() > 0
                else value
                for key, value in entries.items()
            }
            for i, entries in first["state"].items()
        }
        block.optimizer.load_state_dict({"state": state, "param_groups": first["param_groups"]})
    schedulers = checkpoints[0].get("lr_schedulers") or []
    if block.scheduler is not None and schedulers:
        block.scheduler.load_state_dict(schedulers[0])


def _early_rows(early, checkpoints: list[dict], like: torch.Tensor) -> torch.Tensor:
    """The EarlyStopping callback's state in each checkpoint, as rows of StackedEarlyStopping.state."""
    from litlab.stacked.early_stopping import BEST, REASON, STOPPED_EPOCH, WAIT

    rows = like.clone()
    for m, checkpoint in enumerate(checkpoints):
        state = checkpoint["callbacks"].get(early.callback.state_key)
        if state is None:
            continue
        rows[m, BEST] = float(state["best_score"])
        rows[m, WAIT] = float(state["wait_count"])
        rows[m, STOPPED_EPOCH] = float(state["stopped_epoch"])
        reason = state.get("stopping_reason", 0)
        rows[m, REASON] = float(getattr(reason, "value", reason) or 0)
    return rows


def _best(loop, checkpoints: list[dict]) -> None:
    """Each member's best checkpoint so far (the file its last.ckpt's ModelCheckpoint state names) into `Best`."""
    best = loop.best
    for m, (member, checkpoint) in enumerate(zip(loop.members, checkpoints)):
        state = checkpoint["callbacks"].get(member.checkpoint.state_key) or {}
        path, score = state.get("best_model_path"), state.get("best_model_score")
        if not path or not Path(path).is_file():
            continue
        kept = torch.load(path, map_location="cpu", weights_only=False)
        with torch.no_grad():
            for key, source in member.weights:
                if not isinstance(source, torch.Tensor):
                    best.weights[source][m].copy_(kept["state_dict"][key])
            best.score[m] = float("nan") if score is None else float(score)
            best.epoch[m] = int(kept["epoch"])
            if loop.early is not None:
                best.rows[m] = _early_rows(loop.early, [kept], best.rows[m : m + 1])[0]
        member.best_path, member.best_epoch = path, int(kept["epoch"])


def _history(loop, upto: int) -> None:
    """Each member's metrics of epochs [0, upto) from its history.npy, into the loop's history (device and host)."""
    history = loop.history
    for m, member in enumerate(loop.members):
        path = member.output_dir / "history.npy"
        if not path.is_file():
            continue
        table = np.load(path)
        table = table[table["epoch"] < upto]
        member.earlier = np.stack([table[name].astype(float) for name in table.dtype.names], axis=1)
        names = {f"{LR}{g + 1}": name for g, name in enumerate(member.lr_names)}
        for row in table:
            epoch = int(row["epoch"])
            for column in history.columns:
                name = names.get(column, column)
                if name in table.dtype.names:
                    history.host[epoch, m, history.index[column]] = row[name]
        member.logged_upto = upto
    epochs = np.arange(upto)
    history.trained[:upto] = True
    history.validated[:upto] = (epochs + 1) % loop.val_every == 0
    history.rows[:upto] = torch.as_tensor(history.host[:upto], device=history.rows.device)
    history.read_upto = upto
