"""Copies of the stack for the members' checkpoints, taken once for all members.

A member's checkpoint holds its state at the moment it was taken (its best validation, its last one, the
end), and training changes the stack right after. Copying each member's weights and optimizer state on
its own costs a dozen small tensor copies per member and validation; a `Snapshot` copies each stacked
tensor and each block's optimizer state once, every member's rows at a time. A member's `Held` checkpoint
points into a snapshot and is cut out of it (copied, `materialize`) only when it is needed: when its file
is written, or when its best checkpoint was not renewed at the next validation (so that besides the
members' own copies only the newest snapshot stays in memory, not one per member).
"""

import torch
from torch import nn

from litlab.stacked.optimizers import Block, BlockState
from litlab.stacked.progress import Position


class Snapshot:
    """The stacked parameters and every block's optimizer and scheduler states, copied now."""

    def __init__(self, stacked: list[nn.Parameter], blocks: list[Block]):
        self.weights = [p.detach().clone() for p in stacked]
        self.blocks: dict[int, BlockState] = {id(block): block.state() for block in blocks}


class Held:
    """A member's checkpoint at `position`: its rows of `snapshot`, until `materialize` copies them out."""

    def __init__(
        self, position: Position, snapshot: Snapshot, member, rng: dict | None, best_path: str, best_score: float | None
    ):
        self.position, self.snapshot, self.rng = position, snapshot, rng
        self.best_path, self.best_score = best_path, best_score  # the best checkpoint so far, at that moment
        # state_dict entries that are not rows of the stack (buffers): copied now.
        self.extra = {key: source.clone() for key, source in member.weights if isinstance(source, torch.Tensor)}
        self.weights: dict[str, torch.Tensor] | None = None
        self.optimizer: dict | None = None  # its optimizer's state_dict, as its own optimizer would give it
        self.schedulers: list[dict] | None = None

    def materialize(self, member) -> "Held":
        """Copy the member's rows out of the snapshot (once) and let go of it."""
        if self.snapshot is None:
            return self
        snapshot, row = self.snapshot, member.index
        self.weights = {
            key: self.extra[key] if isinstance(source, torch.Tensor) else snapshot.weights[source][row].clone()
            for key, source in member.weights
        }
        state = snapshot.blocks[id(member.block)]
        self.optimizer = member.block.member_state(state.optimizer, row)
        self.schedulers = state.schedulers
        self.snapshot = None
        return self
