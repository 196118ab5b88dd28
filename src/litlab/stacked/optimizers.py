"""The members' optimizers, stepped a block of members at a time.

Each member's system configures its own optimizer (and scheduler), as its single run does, over its views
of the stacked parameters. Neighbouring members whose optimizers are of one class, with equal
hyperparameters in every parameter group, and whose schedulers are equal too, form a block: one optimizer
of that class and those hyperparameters (and one scheduler like theirs) is made over the block's rows a..b
of the stacked parameters, and one `optimizer.step()` serves them all. The optimizers in ELEMENTWISE update
each number of a parameter from that number's gradient and state alone, with the same kernels whatever the
tensor's size, so the step over rows a..b is, number for number, the steps of members a..b on their own.
What it saves is the per-call cost of `optimizer.step` (hooks, checks, a Python loop over the parameters)
for all but one member of a block: sweep=optimizers's 18 members are 6 blocks. Members that would not step
alike (another optimizer class, another learning rate, a ReduceLROnPlateau scheduler, which follows its own
member's validation loss) are blocks of their own; an optimizer not in ELEMENTWISE keeps stepping the
member's own views, as it was configured.

A member's checkpoint holds its optimizer as its single run would save it: the block optimizer's state
with every per-number state tensor cut down to the member's row (snapshot.py).
"""

import torch
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingLR, ExponentialLR, MultiStepLR, ReduceLROnPlateau, StepLR

from litlab.optim import scratch

# Optimizers whose update of a number reads only that number's gradient and state (no norms, no shapes).
ELEMENTWISE = (
    torch.optim.SGD,
    torch.optim.Adam,
    torch.optim.AdamW,
    torch.optim.Adagrad,
    torch.optim.Adadelta,
    torch.optim.RMSprop,
    scratch.ScratchSGD,
    scratch.ScratchAdagrad,
    scratch.ScratchRMSprop,
    scratch.ScratchAdadelta,
    scratch.ScratchAdam,
)
# Schedulers that set the learning rate from their own state alone (not from a metric): equal ones stay equal.
SCHEDULES = (StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR)


class Block:
    """Members first..first+size-1 of the stack, stepped by one optimizer (and scheduler)."""

    def __init__(
        self,
        first: int,
        size: int,
        optimizer: torch.optim.Optimizer,
        scheduler,
        make_scheduler,
        stacked: list[nn.Parameter],
        views: list[nn.Parameter],
    ):
        """`optimizer`, `scheduler`: the first member's, over `views`, its parameters (views of `stacked`, in
        that order); `make_scheduler(optimizer)` makes its scheduler again, for the block's optimizer."""
        self.first, self.size = first, size
        self.scheduler_steps, self.scheduler_steps_this_epoch = 0, 0  # Lightning's scheduler_progress counts
        self.rows = slice(first, first + size) if _elementwise(optimizer) else first
        position = {id(p): i for i, p in enumerate(views)}
        # (stacked parameter, the tensor the optimizer steps), in the optimizer's parameter order.
        self.pairs: list[tuple[nn.Parameter, torch.Tensor]] = []
        groups = []
        for group in optimizer.param_groups:
            params = []
            for member_view in group["params"]:
                index = position[id(member_view)]
                # The block's rows: a view of the stacked parameter, as each member's own parameters are.
                rows = nn.Parameter(stacked[index].detach()[self.rows]) if isinstance(self.rows, slice) else member_view
                params.append(rows)
                self.pairs.append((stacked[index], rows))
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": params})
        if isinstance(self.rows, slice):  # the same class and hyperparameters, made anew over the block's rows
            optimizer = type(optimizer)(groups)
            scheduler = make_scheduler(optimizer) if scheduler is not None else None
        self.optimizer, self.scheduler = optimizer, scheduler

    @property
    def members(self) -> range:
        return range(self.first, self.first + self.size)

    def step(self) -> None:
        for stacked, param in self.pairs:
            param.grad = stacked.grad[self.rows]
        self.optimizer.step()

    def step_scheduler(self, val_loss: float | None = None) -> None:
        if self.scheduler is None:
            return
        if isinstance(self.scheduler, ReduceLROnPlateau):
            if val_loss is None:  # no validation this epoch: nothing to compare
                return
            self.scheduler.step(val_loss)
        else:
            self.scheduler.step()
        self.scheduler_steps += 1
        self.scheduler_steps_this_epoch += 1


def form_blocks(
    optimizers: dict[int, torch.optim.Optimizer],
    schedulers: dict[int, object],
    make_schedulers: dict,
    stacked: list[nn.Parameter],
    views: list[list[nn.Parameter]],
) -> list[Block]:
    """Blocks of consecutive members (positions in the stack) whose optimizers and schedulers step alike.

    `views[m]` are member m's parameters (views of `stacked`), in the stacked order; `optimizers` holds the
    members that have one (a member whose optimizer could not be configured has none and is left out), and
    `make_schedulers[m]` makes member m's scheduler for another optimizer.
    """
    blocks, run = [], []
    for m in sorted(optimizers):
        key = _key(optimizers[m], schedulers.get(m), views[m])
        if run and run[-1][0] == m - 1 and run[-1][1] == key and key is not None:
            run.append((m, key))
            continue
        if run:
            blocks.append(_block(run, optimizers, schedulers, make_schedulers, stacked, views))
        run = [(m, key)]
    if run:
        blocks.append(_block(run, optimizers, schedulers, make_schedulers, stacked, views))
    return blocks


def _block(
    run: list, optimizers: dict, schedulers: dict, make_schedulers: dict, stacked: list[nn.Parameter], views: list
) -> Block:
    first = run[0][0]
    return Block(
        first, len(run), optimizers[first], schedulers.get(first), make_schedulers.get(first), stacked, views[first]
    )


def _key(optimizer: torch.optim.Optimizer, scheduler, views: list[nn.Parameter]):
    """What must be equal for members to step as one; None: this member steps alone."""
    if not _elementwise(optimizer):
        return None
    position = {id(p): i for i, p in enumerate(views)}
    groups = [
        ({k: v for k, v in g.items() if k != "params"}, [position.get(id(p)) for p in g["params"]])
        for g in optimizer.param_groups
    ]
    if any(None in positions for _, positions in groups):
        return None
    if scheduler is None:
        schedule = None
    elif type(scheduler) in SCHEDULES:
        schedule = (type(scheduler), scheduler.state_dict())
    else:
        return None
    return type(optimizer), groups, schedule


def _elementwise(optimizer: torch.optim.Optimizer) -> bool:
    return type(optimizer) in ELEMENTWISE
