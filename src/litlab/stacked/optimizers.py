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

Neighbouring blocks of plain SGD (no momentum, no scheduler) that differ only in their learning rates and
weight decays are stepped together besides (`FusedSGD`): each stacked parameter's rows over those blocks take
one `addcmul_` with the learning rate and the weight decay as tensors with a member dimension. That is the
arithmetic SGD does per number, in the same order: on a CPU `add_(grad, alpha=-lr)` and `addcmul_(grad, -lr)`
round alike, and test_stacked.py compares the members with their single runs. The blocks' optimizers stay
as they are, for the members' checkpoints: plain SGD keeps no state.

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


class FusedSGD:
    """Consecutive blocks of plain SGD over every stacked parameter, stepped as one (see the module's docstring)."""

    def __init__(self, blocks: list[Block], stacked: list[nn.Parameter]):
        self.blocks = blocks
        first = blocks[0].first
        self.rows = slice(first, blocks[-1].first + blocks[-1].size)
        index = {id(p): i for i, p in enumerate(stacked)}
        size = self.rows.stop - first
        lrs = [torch.empty(size, dtype=torch.float64) for _ in stacked]
        decays = [torch.empty(size, dtype=torch.float64) for _ in stacked]
        for block in blocks:
            group_of = {id(q): g for g in block.optimizer.param_groups for q in g["params"]}
            rows = slice(block.first - first, block.first - first + block.size)
            for p, q in block.pairs:
                group = group_of[id(q)]
                lrs[index[id(p)]][rows] = group["lr"]
                decays[index[id(p)]][rows] = group["weight_decay"]
        # (parameter, -lr, weight decay or None where it is 0 for all), each (rows, 1, ...) in the parameter's dtype
        self.params = []
        for p, lr, decay in zip(stacked, lrs, decays):
            shape = (size, *[1] * (p.dim() - 1))
            neg_lr = (-lr).to(p.dtype).view(shape).to(p.device)  # rounded once, as SGD rounds `alpha=-lr`
            decay = decay.to(p.dtype).view(shape).to(p.device) if bool((decay != 0).any()) else None
            self.params.append((p, neg_lr, decay))

    @staticmethod
    def takes(block: Block, stacked: list[nn.Parameter]) -> bool:
        """Whether the block is plain SGD over rows of every stacked parameter, with no scheduler."""
        optimizer = block.optimizer
        return (
            type(optimizer) is torch.optim.SGD
            and isinstance(block.rows, slice)
            and block.scheduler is None
            and {id(p) for p, _ in block.pairs} == {id(p) for p in stacked}
            and all(
                g["momentum"] == 0 and not g["maximize"] and not g["differentiable"] and not g["fused"]
                for g in optimizer.param_groups
            )
        )

    @torch.no_grad()
    def step(self) -> None:
        for p, neg_lr, decay in self.params:
            if p.grad is None:
                continue
            rows, grad = p.detach()[self.rows], p.grad[self.rows]
            if decay is not None:
                grad = grad.addcmul(rows, decay)
            rows.addcmul_(grad, neg_lr)


def steppers(blocks: list[Block], stacked: list[nn.Parameter]) -> list:
    """What steps the blocks, in order: runs of neighbouring plain-SGD blocks as one FusedSGD, the rest alone."""
    out, run = [], []

    def close_run():
        if len(run) > 1:
            out.append(FusedSGD(list(run), stacked))
        else:
            out.extend(run)
        run.clear()

    for block in blocks:
        if FusedSGD.takes(block, stacked) and (not run or run[-1].first + run[-1].size == block.first):
            run.append(block)
            continue
        close_run()
        if FusedSGD.takes(block, stacked):
            run.append(block)
        else:
            out.append(block)
    close_run()
    return out
