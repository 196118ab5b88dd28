"""The training hot path never waits for the device: no value is read back to the host on every step.

On a GPU each read (`.item()`, `bool(t)`, `float(t)`) waits for all queued work. Such reads go through
the ATen operator `_local_scalar_dense`; operators whose output size depends on the values (`nonzero`,
`unique`, ...) wait too. Counting those operators on the CPU counts the waits a GPU run would have.
"""

import lightning as L
from torch.utils._python_dispatch import TorchDispatchMode

from litlab.run import build

WAITING_OPS = {
    "_local_scalar_dense",
    "nonzero",
    "masked_select",
    "unique",
    "_unique",
    "_unique2",
    "unique_dim",
    "unique_consecutive",
    "bincount",
    "repeat_interleave",
}


class CountHostReads(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.reads = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ in WAITING_OPS:
            self.reads += 1
        return func(*args, **(kwargs or {}))


class ReadsPerStep(L.Callback):
    """The host reads between the start of one training step and the start of the next (same epoch)."""

    def __init__(self, counter: CountHostReads):
        self.counter, self.per_step, self.at_start = counter, [], None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.at_start is not None and batch_idx > 0:
            self.per_step.append(self.counter.reads - self.at_start)
        self.at_start = self.counter.reads


def reads_per_step(cfg) -> list[int]:
    """Host reads in each training step but the first of each epoch (its count includes the epoch boundary)."""
    datamodule, system, trainer = build(cfg)
    counter = CountHostReads()
    trainer.callbacks.append(ReadsPerStep(counter))
    with counter:
        trainer.fit(system, datamodule=datamodule)
    per_step = trainer.callbacks[-1].per_step
    assert len(per_step) == trainer.max_epochs * (trainer.num_training_batches - 1)
    return per_step


def test_training_steps_read_nothing_back_except_every_few_dozen_steps(make_cfg):
    # The default callbacks, metrics and logger; 2 epochs of 45 steps.
    steps = reads_per_step(make_cfg("data=digits", "model=mlp", "data.batch_size=32", "trainer.max_epochs=2"))
    reading = [i for i, n in enumerate(steps) if n]
    # The divergence check (every 20 steps) and the metric chunks (every 64) read; no other step does.
    assert len(reading) <= len(steps) // 20 + len(steps) // 64 + 2, reading


def test_step_logging_reads_every_step_as_asked(make_cfg):
    """The count above can fail: per-step logging (`log_step_metrics=true`) reads on every step."""
    steps = reads_per_step(
        make_cfg(
            "data=digits",
            "model=mlp",
            "data.batch_size=32",
            "trainer.max_epochs=1",
            "log_step_metrics=true",
            "trainer.log_every_n_steps=1",
        )
    )
    assert sum(1 for n in steps if n) >= len(steps) * 0.9
