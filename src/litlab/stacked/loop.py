"""The training loop of a stacked group: what Lightning's fit and test do for a single run, for N members.

Lightning's Trainer drives one model with one logger and one checkpoint callback; here every member needs
its own, and the per-step and per-epoch cost of the framework is what stacking exists to pay once, so the
loop is written out. It follows the single run's order of events: the learning rate logged at the start
of an epoch, one optimizer step per batch, epoch-interval schedulers stepped after the last batch, then
validation (every `trainer.check_val_every_n_epoch` epochs), the epoch's metrics, the checkpoints, and
ReduceLROnPlateau with the epoch's `val/loss`. After the last epoch each member's best checkpoint is tested.
"""

import logging
import signal
import time

import lightning as L
import torch
from omegaconf import OmegaConf
from torch.optim.lr_scheduler import ReduceLROnPlateau

from litlab.callbacks.divergence import Diverged
from litlab.callbacks.resumable import rng_states, set_rng_states
from litlab.data.batching import IndexBatchSampler
from litlab.run import load_data, system_for
from litlab.stacked.member import Member
from litlab.stacked.optimizers import Block, form_blocks
from litlab.stacked.progress import Position
from litlab.stacked.snapshot import Snapshot
from litlab.stacked.system import StackedSystem

log = logging.getLogger("litlab.stacked")

PROGRESS_EVERY_S = 10.0  # seconds between progress lines in the log


class Stopped(Exception):
    """Ctrl-C or SIGTERM arrived: stop at the end of this step, as Lightning does."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.exit_status = 130 if signum == signal.SIGINT else 143


def device_for(accelerator: str) -> torch.device:
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    if accelerator == "mps" or (accelerator == "auto" and torch.backends.mps.is_available()):
        return torch.device("mps")
    return torch.device("cpu")


def build(members: list[Member], device: torch.device) -> tuple[list[Member], list[torch.Generator]]:
    """Each member's data and system exactly as `litlab.run.build_system` makes them; the members that built.

    Members with the same seed and data config share one data module (the same splits): the random state
    its loading left behind is restored instead, so every network starts from its single run's weights.
    """
    loaded: dict[tuple, tuple] = {}
    built, generators = [], []
    for member in members:
        cfg = member.cfg
        try:
            L.seed_everything(cfg.seed, workers=True, verbose=False)
            key = (cfg.seed, OmegaConf.to_yaml(cfg.data, resolve=True))
            if key in loaded:
                member.datamodule, states = loaded[key]
                set_rng_states(states)
            else:
                member.datamodule = load_data(cfg.data)
                loaded[key] = (member.datamodule, rng_states())
            member.system = system_for(cfg, member.datamodule).to(device)
        except Exception as error:  # a bad value the config checks could not see: this job fails alone
            log.error("job %d failed: %s", member.job, error)
            member.fail("failed", error=str(error))
            continue
        # Its dropout masks continue the random stream its single run would draw them from (on a CPU).
        generator = torch.Generator(device=device)
        if device.type == "cpu":
            generator.set_state(torch.get_rng_state())
        else:
            generator.manual_seed(cfg.seed)
        member.generator = generator
        if any(c and c.get("_target_") == RESUMABLE for c in (cfg.get("callbacks") or {}).values()):
            member.rng = rng_states()  # its single run's checkpoints carry them (the torch one moves on: its masks)
        built.append(member)
        generators.append(generator)
    return built, generators


RESUMABLE = "litlab.callbacks.resumable.Resumable"


def attach_optimizers(members: list[Member], stacked: StackedSystem) -> list[Block]:
    """Each member's optimizer and scheduler from its own system, as Lightning would configure them, in blocks.

    Called once the members' parameters are views of the stack; members that step alike share one
    optimizer over their rows of it (optimizers.py).
    """
    optimizers, schedulers = {}, {}
    for m, member in enumerate(members):
        member.index = m
        # Its state_dict entries: the index of the stacked parameter it is a row of, or (a buffer) itself.
        stacked_index = {id(views[m]): i for i, (_, views) in enumerate(stacked.views)}
        member.weights = [
            (key, stacked_index.get(id(value), value.detach()))
            for key, value in member.system.state_dict(keep_vars=True).items()
        ]
        try:
            configured = member.system.configure_optimizers()
        except Exception as error:
            member.log.error("job %d failed: %s", member.job, error)
            member.fail("failed", error=str(error))
            continue
        if isinstance(configured, dict):
            optimizers[m], schedulers[m] = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
        else:
            optimizers[m] = configured
    make_schedulers = {m: members[m].system.scheduler_factory for m in schedulers}
    blocks = form_blocks(
        optimizers,
        schedulers,
        make_schedulers,
        [p for p, _ in stacked.views],
        [[views[m] for _, views in stacked.views] for m in range(len(members))],
    )
    for block in blocks:
        for m in block.members:
            members[m].block, members[m].optimizer, members[m].scheduler = block, block.optimizer, block.scheduler
    return blocks


class Totals:
    """An epoch's sums per member: loss times batch size, the scores' sums (StackedSystem.sums), sample count."""

    def __init__(self, stacked: StackedSystem):
        self.stacked, self.loss, self.sums, self.count = stacked, 0.0, {}, 0

    def add(self, losses: torch.Tensor, output: torch.Tensor, target: torch.Tensor) -> None:
        size = target.shape[1]
        self.loss = self.loss + losses * size
        for name, value in self.stacked.sums(output, target).items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        self.count += size

    def values(self, stage: str) -> list[dict]:
        """Per member, `{stage}/loss` and each score, as Python numbers (one read of the device)."""
        columns = {
            f"{stage}/loss": self.loss / self.count,
            **{f"{stage}/{name}": value for name, value in self.stacked.scores(self.sums, self.count).items()},
        }
        names, table = list(columns), torch.stack(list(columns.values()), dim=1).tolist()
        return [dict(zip(names, row)) for row in table]


class StackedLoop:
    def __init__(self, members: list[Member], stacked: StackedSystem, blocks: list[Block], device: torch.device):
        self.members, self.stacked, self.blocks, self.device = members, stacked, blocks, device
        cfg = members[0].cfg
        self.max_epochs = cfg.trainer.max_epochs
        self.val_every = cfg.trainer.get("check_val_every_n_epoch") or 1
        callbacks = [c for c in (cfg.get("callbacks") or {}).values() if c]
        divergence = [c for c in callbacks if c._target_.endswith("StopOnDivergence")]
        self.check_every = divergence[0].get("check_every", 20) if divergence else None
        self.lr_monitor = any(c._target_.endswith("LearningRateMonitor") for c in callbacks)
        self.grid = next((c for c in callbacks if c._target_.endswith("PredictionGrid")), None)
        # Members with the same data module share its batches (the same seed: the same order).
        self.datamodules = list({id(m.datamodule): m.datamodule for m in members}.values())
        self.source = [next(i for i, d in enumerate(self.datamodules) if d is m.datamodule) for m in members]
        sizes = {len(d.splits["train"][0]) for d in self.datamodules}
        if len(sizes) > 1:
            raise ValueError(f"the members' training splits differ in size ({sorted(sizes)})")
        data = self.datamodules[0]
        self.train_batches = len(IndexBatchSampler(sizes.pop(), data.batch_size, True, data.drop_last))
        self.val_batches = len(IndexBatchSampler(len(data.splits["val"][0]), data.batch_size, False))
        self.step, self.epoch, self.batch = 0, 0, 0  # steps in all; the epoch in progress; batches done in it
        self.validated_this_epoch = self.validated_before = False
        self.pending: list[tuple[int, int, torch.Tensor]] = []  # (epoch, step, members' losses) not yet checked
        self.stop_signal: int | None = None

    @property
    def running(self) -> list[int]:
        return [m for m, member in enumerate(self.members) if member.status == "running"]

    # -- batches -------------------------------------------------------------------------------------
    def batches(self, split: str, shuffle: bool):
        """(x, y) of shape (N, B, ...), (N, B): each member's batch from its own split, in its own order."""
        tensors = [d.on_device(split, self.device) for d in self.datamodules]
        samplers = [
            IndexBatchSampler(len(x), d.batch_size, shuffle, d.drop_last and shuffle, d.seed, device=self.device)
            for d, (x, _) in zip(self.datamodules, tensors)
        ]
        for sampler in samplers:
            sampler.set_epoch(self.epoch)
        for indices in zip(*samplers):
            parts = [(x.index_select(0, i), y.index_select(0, i)) for (x, y), i in zip(tensors, indices)]
            if len(parts) == 1:  # one data module: the same batch for every member, not copied
                x, y = parts[0]
                yield x.expand(len(self.members), *x.shape), y.expand(len(self.members), *y.shape)
            else:
                yield (torch.stack([parts[s][0] for s in self.source]), torch.stack([parts[s][1] for s in self.source]))

    # -- the loop ------------------------------------------------------------------------------------
    def fit(self) -> None:
        previous = {signum: signal.signal(signum, self._on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
        log.info(
            "training jobs %s as one model on %s, with %d optimizer(s) (hydra/launcher=stacked)",
            ", ".join(str(m.job) for m in self.members),
            self.device,
            len(self.blocks),
        )
        try:
            self._fit()
        except Stopped as stop:
            self._interrupted()
            raise SystemExit(stop.exit_status) from None
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum, frame) -> None:
        """Ctrl-C or SIGTERM: stop at the end of the step (a second Ctrl-C stops at once, without checkpoints)."""
        if self.stop_signal == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop_signal = signum

    def position(self, moment: str, block: Block) -> Position:
        """Where the members of `block` stand now, as Lightning's loops would count it (progress.py)."""
        return Position(
            moment,
            self.epoch,
            self.batch,
            self.step,
            self.train_batches,
            self.val_batches,
            self.validated_this_epoch,
            self.validated_before,
            block.scheduler_steps,
            block.scheduler_steps_this_epoch,
            saves_on_train_epoch_end=self.val_every == 1,
        )

    def snapshot(self, blocks: list[Block]) -> Snapshot:
        """A copy of the stack and of `blocks`' optimizer states now, for the members' checkpoints."""
        return Snapshot([p for p, _ in self.stacked.views], blocks)

    def active_blocks(self) -> list[Block]:
        running = set(self.running)
        return [block for block in self.blocks if running.intersection(block.members)]

    def _fit(self) -> None:
        last_note = time.monotonic()
        for self.epoch in range(self.max_epochs):  # noqa: B020 (an attribute, read by the hooks)
            if not self.running:
                break
            self.batch, self.validated_this_epoch = 0, False
            for block in self.blocks:
                block.scheduler_steps_this_epoch = 0
            if self.lr_monitor:
                for m in self.running:
                    if self.members[m].loggers:
                        self.members[m].log_metrics(self.members[m].lr_metrics(), self.step)
            self._train_epoch()
            self._check_divergence()
            running, blocks = self.running, self.active_blocks()
            for block in blocks:  # epoch-interval schedulers step after the last batch, before validation
                if not isinstance(block.scheduler, ReduceLROnPlateau):
                    block.step_scheduler()
            validated = (self.epoch + 1) % self.val_every == 0
            val = self.evaluate("val") if validated else None
            self.validated_this_epoch = validated
            self.validated_before = self.validated_before or validated
            checkpointed = validated and any(self.members[m].checkpoint is not None for m in running)
            snapshot = self.snapshot(blocks) if checkpointed else None  # one copy of the stack, for all members
            for m in running:
                member = self.members[m]
                values = {**self.train_totals[m], "params/weight_norm": member.system.weight_norm()}
                values.update(getattr(member.system, "param_errors", dict)())
                if val is not None:
                    values.update(val[m])
                member.log_metrics(values, self.step - 1, epoch=self.epoch)
                if validated and member.checkpoint is not None:
                    member.save_checkpoints(self.position("validated", member.block), snapshot)
            for block in blocks:  # ReduceLROnPlateau after validation, on its (one) member's val/loss
                if isinstance(block.scheduler, ReduceLROnPlateau) and val is not None:
                    block.step_scheduler(self.members[block.first].metrics["val/loss"])
            if time.monotonic() - last_note > PROGRESS_EVERY_S or self.epoch + 1 == self.max_epochs:
                last_note = time.monotonic()
                log.info(
                    "epoch %d/%d: %d of %d members training",
                    self.epoch + 1,
                    self.max_epochs,
                    len(self.running),
                    len(self.members),
                )

    def _train_epoch(self) -> None:
        stacked, totals = self.stacked, Totals(self.stacked)
        stacked.network.train()
        for x, y in self.batches("train", shuffle=True):
            running = self.running
            active = torch.zeros(len(self.members), dtype=torch.bool, device=self.device)
            active[running] = True
            output = stacked.network(x)
            losses = stacked.losses(output, y)
            total = losses + stacked.penalty()  # what each single run's training_step returns
            # Members no longer training (diverged) add nothing, not even a NaN, to the objective.
            objective = torch.where(active, total, torch.zeros_like(total)).sum()
            stacked.step(objective, self.active_blocks())
            with torch.no_grad():
                totals.add(losses.detach(), output.detach(), y)
            self.pending.append((self.epoch, self.step, total.detach()))
            self.step += 1
            self.batch += 1
            if self.check_every and len(self.pending) >= self.check_every:
                self._check_divergence()
            # A signal at the epoch's last batch is taken one step later: there Lightning validates first.
            if self.stop_signal is not None and self.batch < self.train_batches:
                raise Stopped(self.stop_signal)
        self.train_totals = totals.values("train")

    def _check_divergence(self) -> None:
        """A member whose training loss became NaN or infinite stops; its metrics.json says where."""
        if not self.pending or not self.check_every:
            self.pending = []
            return
        losses = torch.stack([p[2] for p in self.pending]).float()  # (steps, N)
        finite = torch.isfinite(losses)
        pending, self.pending = self.pending, []
        if bool(finite.all()):  # the one read on the host
            return
        for m in self.running:
            bad = (~finite[:, m]).nonzero()
            if len(bad):
                epoch, step, _ = pending[int(bad[0])]
                member = self.members[m]
                lr = member.optimizer.param_groups[0]["lr"]
                error = Diverged(float(losses[int(bad[0]), m]), epoch, step, lr)
                member.log.error("%s", error)
                member.write_checkpoints()  # those of its last validation before the bad step, as a single run has
                member.fail("diverged", epoch=epoch, step=step, error=str(error))

    @torch.no_grad()
    def evaluate(self, split: str) -> list[dict]:
        self.stacked.network.eval()
        totals = Totals(self.stacked)
        for x, y in self.batches(split, shuffle=False):
            output = self.stacked.network(x)
            totals.add(self.stacked.losses(output, y), output, y)
        return totals.values(split)

    # -- the end -------------------------------------------------------------------------------------
    def test(self) -> list[float | None]:
        """Each completed member's best checkpoint on its test split; metrics.json; the values the jobs return."""
        running = self.running
        self.epoch = self.max_epochs - 1  # the last epoch: last.ckpt is the state at the end of training
        snapshot = self.snapshot(self.active_blocks())
        for m in running:
            member = self.members[m]
            if member.checkpoint is not None and member.save_last:
                member.last_state = member.hold(self.position("end", member.block), snapshot)
        for m in running:
            member = self.members[m]
            if member.best_state is not None:  # its best weights into its slice of the stacked network
                member.system.load_state_dict(member.best_state.materialize(member).weights)
        tested = self.evaluate("test")
        values = [None] * len(self.members)
        for m in running:
            member = self.members[m]
            values[m] = member.finish(tested[m], self.step, self.max_epochs)
            if self.grid is not None:
                self._prediction_grid(member)
        return values

    def _prediction_grid(self, member: Member) -> None:
        from types import SimpleNamespace

        from hydra.utils import instantiate

        member.system.eval()
        trainer = SimpleNamespace(
            is_global_zero=True, datamodule=member.datamodule, loggers=member.loggers, global_step=self.step
        )
        instantiate(self.grid).on_test_end(trainer, member.system)

    def _interrupted(self) -> None:
        snapshot = self.snapshot(self.active_blocks())
        for m in self.running:
            member = self.members[m]
            path = member.write_checkpoints(now=(self.position("interrupted", member.block), snapshot))
            member.fail(
                "interrupted", epoch=self.epoch, step=self.step, resume=f"python train.py resume={member.output_dir}"
            )
            member.log.warning(
                "interrupted at epoch %d, step %d; saved %s. Resume with: python train.py resume=%s",
                self.epoch,
                self.step,
                path,
                member.output_dir,
            )
