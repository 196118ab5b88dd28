"""Each member's best checkpoint so far, kept on the device; the group's state copied to the host for files.

A member's best checkpoint holds its weights and optimizer state at its best validation. `Best` keeps one
copy of the stack and of every per-number optimizer state tensor (exp_avg, momentum_buffer, ...); after
each validation the members that improved are copied into it by one masked copy per tensor
(`torch.where(improved, now, best)`), whatever the number of members. What is the same for all members of
a block at a moment (the optimizer's hyperparameters and scalar state such as Adam's `step`, the scheduler's
state, Lightning's loop progress) is kept per validation and block (`Moment`), for as long as some member's
best refers to that validation.

`HostState` is the stack, or the best copy, on the host (copies): a member's checkpoint is cut out of it
(views of its rows) when its file is written.
"""

from dataclasses import dataclass

import torch
from torch import nn

from litlab.checkpoints import copy_checkpoint
from litlab.stacked.optimizers import Block
from litlab.stacked.progress import Position


@dataclass
class Moment:
    """What a block's members share at a moment: loop progress, optimizer settings and scalar state, schedulers."""

    position: Position
    param_groups: list[dict]
    scalars: dict[int, dict]  # parameter index -> {key: value} of the state entries that are not per number
    schedulers: list[dict]
    generators: dict[int, torch.Tensor]  # member -> its dropout generator's state (members whose masks move it)


def per_number_state(block: Block) -> dict[tuple[int, str], torch.Tensor]:
    """The block optimizer's state tensors with an entry per number of their parameter, by (index, key)."""
    out = {}
    for i, (_, param) in enumerate(block.pairs):
        for key, value in block.optimizer.state.get(param, {}).items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape == param.shape:
                out[(i, key)] = value
    return out


def moment(block: Block, position: Position, generators: dict[int, torch.Tensor]) -> Moment:
    """The block's shared state now (copies, on the device where they are tensors)."""
    state = block.optimizer.state_dict()
    numbers = per_number_state(block)
    scalars = {
        i: {key: copy_checkpoint(value) for key, value in entries.items() if (i, key) not in numbers}
        for i, entries in state["state"].items()
    }
    schedulers = [copy_checkpoint(block.scheduler.state_dict())] if block.scheduler is not None else []
    return Moment(position, copy_checkpoint(state["param_groups"]), scalars, schedulers, generators)


class Best:
    def __init__(
        self, stacked: list[nn.Parameter], blocks: list[Block], members: int, device: torch.device, columns: int = 0
    ):
        """`columns`: per-member state kept with the best weights (the early stopping state), (N, columns)."""
        self.stacked, self.blocks = stacked, blocks
        self.rows = torch.zeros(members, columns, device=device)
        self.weights = [p.detach().clone() for p in stacked]
        self.state: dict[tuple[int, int, str], torch.Tensor] = {}  # (block, index, key) -> best per-number state
        self.score = torch.full((members,), float("nan"), device=device)
        self.epoch = torch.full((members,), -1, dtype=torch.long, device=device)  # -1: no best yet
        self.moments: dict[int, dict[int, Moment]] = {}  # epoch -> block id -> its moment then

    def update(
        self,
        improved: torch.Tensor,
        score: torch.Tensor,
        epoch: int,
        moments: dict[int, Moment],
        rows: torch.Tensor | None = None,
    ) -> None:
        """Copy the members in `improved` (N,) into the best state (their score now `score`, their `rows`
        of per-member state), on the device."""
        self.moments[epoch] = moments
        with torch.no_grad():
            if rows is not None:
                self.rows.copy_(torch.where(_rows(improved, rows), rows, self.rows))
            for best, p in zip(self.weights, self.stacked):
                best.copy_(torch.where(_rows(improved, p), p, best))
            for b, block in enumerate(self.blocks):
                mask = improved[block.rows]
                for (i, key), value in per_number_state(block).items():
                    best = self.state.get((b, i, key))
                    if best is None:  # the state appears with the first step: members without a best take any
                        self.state[(b, i, key)] = value.clone()
                    else:
                        best.copy_(torch.where(_rows(mask, value) if mask.dim() else mask, value, best))
            self.score.copy_(torch.where(improved, score, self.score))
            self.epoch.copy_(torch.where(improved, torch.full_like(self.epoch, epoch), self.epoch))

    def forget(self, keep: set[int]) -> None:
        """Drop the moments of validations no member's best refers to any more."""
        for epoch in [e for e in self.moments if e not in keep]:
            del self.moments[epoch]

    def host(self) -> "HostState":
        return HostState(
            [_host(w) for w in self.weights],
            {key: _host(value) for key, value in self.state.items()},
        )


class HostState:
    """Stacked weights (N, ...) and per-number optimizer state on the host, to cut members' checkpoints from."""

    def __init__(self, weights: list[torch.Tensor], state: dict[tuple[int, int, str], torch.Tensor]):
        self.weights, self.state = weights, state

    @classmethod
    def now(cls, stacked: list[nn.Parameter], blocks: list[Block]) -> "HostState":
        state = {
            (b, i, key): _host(value)
            for b, block in enumerate(blocks)
            for (i, key), value in per_number_state(block).items()
        }
        return cls([_host(p) for p in stacked], state)

    def optimizer(self, blocks: list[Block], b: int, member: int, moment: Moment) -> dict:
        """Member `member`'s optimizer state_dict, as its own optimizer would give it, from block `b`'s rows."""
        block = blocks[b]
        row = member - block.first if isinstance(block.rows, slice) else None
        state = {i: dict(entries) for i, entries in copy_checkpoint(moment.scalars).items()}
        for (bb, i, key), value in self.state.items():
            if bb == b:
                state.setdefault(i, {})[key] = value[row] if row is not None else value
        state = {i: state[i] for i in sorted(state)}
        return {"state": state, "param_groups": copy_checkpoint(moment.param_groups)}


def _rows(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`mask` (N,) shaped to broadcast over a stacked tensor (N, ...)."""
    return mask.view(-1, *[1] * (like.dim() - 1))


def _host(tensor: torch.Tensor) -> torch.Tensor:
    """A copy on the host (the live tensor goes on changing while the files are written)."""
    return tensor.detach().to("cpu", copy=True)
