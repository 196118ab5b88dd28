"""The training loop of a stacked group: what Lightning's fit and test do for a single run, for N members.

Lightning's Trainer drives one model with one logger and one checkpoint callback; here every member needs
its own, and the per-step and per-epoch cost of the framework is what stacking exists to pay once, so the
loop is written out, on Lightning Fabric as Fabric's own loops are (its example
`examples/fabric/build_your_own_trainer/trainer.py`): Fabric picks the device and holds the precision plugin,
the steps run in `fabric.autocast()` and the backward goes through `fabric.backward`, so the members train on
the device and in the precision their single runs' Trainer would choose. It follows the single run's order
of events: the learning rate logged at the start of an epoch, one optimizer step per batch, epoch-interval
schedulers stepped after the last batch, then validation (every `trainer.check_val_every_n_epoch` epochs),
the epoch's metrics, the checkpoints, and ReduceLROnPlateau with the epoch's `val/loss`. After the last epoch
each member's best weights are tested. Gradient clipping (clipping.py) and early stopping (early_stopping.py)
act per member, as in its single run; a member stopped early writes its last files at once and is tested with
the others.

The group's state has a member dimension and stays on the device: the epoch's metrics are a row of the
history (history.py), the best checkpoints masked copies (snapshot.py), divergence and "still training"
masks. Nothing is read back per step; once per validation the new rows and the masks come to the host
in one transfer, and every `write_interval` seconds (the checkpoint callback's) and at the end the members'
files go to the background writer (writer.py). The Python work of a step or an epoch does not grow with
the number of members (the dropout masks of members with dropout aside: each comes from its own generator,
as in its single run); what does is a member's files.
"""

import itertools
import json
import logging
import signal
import time

import lightning as L
import numpy as np
import torch
from omegaconf import OmegaConf
from torch.optim.lr_scheduler import ReduceLROnPlateau

from litlab import baseline
from litlab.callbacks.divergence import Diverged
from litlab.callbacks.resumable import rng_states, set_rng_states
from litlab.devices import check_bfloat16
from litlab.run import load_data, system_for
from litlab.stacked.bar import GroupProgress
from litlab.stacked.batches import StackedBatches
from litlab.stacked.clipping import Clipping
from litlab.stacked.early_stopping import StackedEarlyStopping
from litlab.stacked.history import LR, History
from litlab.stacked.member import Member
from litlab.stacked.network import StackedDropout, StackedLinear
from litlab.stacked.optimizers import Block, form_blocks, steppers
from litlab.stacked.phases import phase
from litlab.stacked.progress import Position
from litlab.stacked.snapshot import Best, HostState, moment
from litlab.stacked.system import StackedSystem
from litlab.stacked.writer import Task, Writer

log = logging.getLogger("litlab.stacked")

PROGRESS_EVERY_S = 10.0  # seconds between progress lines in the log (without a progress bar)


class Stopped(Exception):
    """Ctrl-C, SIGTERM or a cluster's preemption signal arrived: stop at the end of this step, as Lightning does."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.exit_status = 130 if signum == signal.SIGINT else 128 + signum


# submitit's signal for a preempted or timed-out job: the group writes its checkpoints first, then submitit's
# handler (the one the loop found) requeues the job (submit.py).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2)


def fabric_for(cfg, precision: bool = True) -> L.Fabric:
    """The group's Fabric: the device Lightning picks for `accelerator.accelerator` (one: grouping.py leaves
    several to DDP runs), and the precision plugin of `trainer.precision` (`precision=False`: 32-true, to
    ask only for the device), as a single run's Trainer has them."""
    accelerator = cfg.accelerator.get("accelerator", "auto")
    fabric = L.Fabric(accelerator=accelerator, devices=1, precision=cfg.trainer.precision if precision else None)
    if precision:
        check_bfloat16(fabric.device.type == "cuda", cfg.trainer.precision)  # as the single run's Trainer is checked
    return fabric


def load(members: list[Member]) -> list[Member]:
    """Each member's data module, loaded as `litlab.run.build_system` loads it; the members that loaded.

    Members with the same seed and data config share one data module (the same splits). Each member keeps the
    random state its seed and loading left behind (`after_data`): `build` makes its network from there.
    """
    loaded: dict[tuple, tuple] = {}
    ready = []
    for member in members:
        cfg = member.cfg
        try:
            member.config = OmegaConf.to_container(cfg, resolve=True)  # its system's hyperparameters
            key = (cfg.seed, json.dumps(member.config["data"], sort_keys=True, default=str))
            if key not in loaded:
                L.seed_everything(cfg.seed, workers=True, verbose=False)
                loaded[key] = (load_data(cfg.data), rng_states())
            member.datamodule, member.after_data = loaded[key]
        except Exception as error:  # a bad value the config checks could not see: this job fails alone
            log.error("job %d failed: %s", member.job, error)
            member.fail("failed", error=str(error))
            continue
        ready.append(member)
    return ready


def build(members: list[Member], fabric: L.Fabric) -> tuple[list[Member], list[torch.Generator]]:
    """Each loaded member's system as `litlab.run.build_system` makes it (less its metrics), on Fabric's device; the
    members that built. Its network starts from its single run's weights: it is made from the random state
    its seed and data loading left behind (`load`)."""
    device = fabric.device
    made: dict = {}  # what members with equal config nodes share: optimizer factories, network constructors
    built, generators = [], []
    for member in members:
        cfg = member.cfg
        try:
            L.seed_everything(cfg.seed, workers=True, verbose=False)
            set_rng_states(member.after_data)
            # Without torchmetrics objects: the loop computes every member's metrics in its own tensors.
            system = system_for(cfg, member.datamodule, made, member.config, metrics=False)
            member.system = fabric.to_device(system)
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
    optimizer over their rows of it (optimizers.py). A member whose optimizer cannot be made fails alone;
    the members that remain, and the blocks.
    """
    optimizers, schedulers = {}, {}
    stacked_index = {}
    for i, (_, views) in enumerate(stacked.views):
        for view in views:
            stacked_index[id(view)] = i
    for m, member in enumerate(members):
        member.index = m
        # Its state_dict entries: the index of the stacked parameter it is a row of, or (a buffer) itself.
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
    for b, block in enumerate(blocks):
        for m in block.members:
            members[m].block, members[m].block_index, members[m].optimizer = block, b, block.optimizer
            members[m].name_learning_rates()
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

    def values(self, stage: str) -> dict[str, torch.Tensor]:
        """`{stage}/loss` and each score, (N,) each, on the device."""
        scores = self.stacked.scores(self.sums, self.count)
        return {f"{stage}/loss": self.loss / self.count, **{f"{stage}/{k}": v for k, v in scores.items()}}


class StackedLoop:
    def __init__(self, members: list[Member], stacked: StackedSystem, blocks: list[Block], fabric: L.Fabric):
        self.members, self.stacked, self.blocks, self.fabric = members, stacked, blocks, fabric
        self.steppers = steppers(blocks, [p for p, _ in stacked.views])  # plain-SGD blocks fused (optimizers.py)
        self.device = device = fabric.device
        n = len(members)
        cfg = members[0].cfg
        self.max_epochs = cfg.trainer.max_epochs
        self.val_every = cfg.trainer.get("check_val_every_n_epoch") or 1
        self.clipping = Clipping.of(cfg.trainer)  # each member's gradients, as its single run clips them
        callbacks = [c for c in (cfg.get("callbacks") or {}).values() if c]
        divergence = [c for c in callbacks if c._target_.endswith("StopOnDivergence")]
        self.stops_on_divergence = bool(divergence)
        early = next((c for c in callbacks if c._target_.endswith("EarlyStopping")), None)
        self.lr_monitor = any(c._target_.endswith("LearningRateMonitor") for c in callbacks)
        self.grid = next((c for c in callbacks if c._target_.endswith("PredictionGrid")), None)
        self.show_bar = cfg.trainer.get("enable_progress_bar") is not False and any(
            c._target_.endswith("ProgressBar") for c in callbacks
        )
        # Members with the same data module share its batches (the same seed: the same order).
        datamodules = list({id(m.datamodule): m.datamodule for m in members}.values())
        source = [next(i for i, d in enumerate(datamodules) if d is m.datamodule) for m in members]
        sizes = {len(d.splits["train"][0]) for d in datamodules}
        if len(sizes) > 1:
            raise ValueError(f"the members' training splits differ in size ({sorted(sizes)})")
        self.batches = StackedBatches(datamodules, source, n, device)
        self.source = source  # each member's data module, by index into `datamodules`
        self.samples = sizes.pop()
        self.train_batches = self.batches.count("train", shuffle=True)
        self.val_batches = self.batches.count("val", shuffle=False)
        self.step, self.epoch, self.batch = 0, 0, 0  # steps in all; the epoch in progress; batches done in it
        self.resume_batch = 0  # batches of the first epoch done before the group was restarted (resume.py)
        self.validated_this_epoch = self.validated_before = False
        self.stop_signal: int | None = None

        # -- the group's state, with a member dimension ------------------------------------------------
        self.training = torch.ones(n, dtype=torch.bool, device=device)  # not diverged
        self.bad_step = torch.full((n,), -1, dtype=torch.long, device=device)  # the first non-finite loss's step
        self.bad_loss = torch.full((n,), float("nan"), device=device)
        self.status = np.array(["running"] * n, dtype=object)  # on the host, as of the last read
        self.early = StackedEarlyStopping(early, n, device) if early is not None else None
        self.stopped_early = torch.zeros(n, dtype=torch.bool, device=device)  # left `training` by early stopping
        self._early_host = None  # (now, at the best checkpoint): the early stopping state on the host, per member
        self.errors = _parameter_errors(members, stacked, device)
        groups = max(len(b.optimizer.param_groups) for b in blocks)
        self.lrs = torch.full((n, groups), float("nan"), device=device)
        for block in blocks:
            self._set_lrs(block)
        scores = stacked.score_names
        columns = [f"{stage}/{name}" for stage in ("train", "val") for name in ("loss", *scores)]
        columns += ["params/weight_norm", *self.errors[0]]
        columns += [f"{LR}{g + 1}" for g in range(groups)]
        self.history = History(columns, self.max_epochs, n, device)
        self.test_columns = [f"test/{name}" for name in ("loss", *scores)]
        checkpoint = members[0].checkpoint
        columns = self.early.state.shape[1] if self.early is not None else 0
        self.best = Best([p for p, _ in stacked.views], blocks, n, device, columns) if checkpoint is not None else None
        self.monitor = checkpoint.monitor if checkpoint is not None else None
        self.mode = checkpoint.mode if checkpoint is not None else "min"
        self.write_interval = getattr(checkpoint, "write_interval", 0.0) if checkpoint is not None else None
        self.written_at = time.monotonic()
        self.moving = _moving_generators(stacked, n)  # members whose dropout masks move their generator
        self.writer: Writer | None = None
        self.baselines: baseline.Ahead | None = None  # the members' baselines, fitted while they train
        self._best_host = None
        self.bar = GroupProgress(self.max_epochs, n, self.samples, enabled=self.show_bar)

    @property
    def running(self) -> list[int]:
        return list(np.flatnonzero(self.status == "running"))

    def _set_lrs(self, block: Block) -> None:
        """The block's current learning rates into its members' rows of `lrs`."""
        lrs = torch.tensor([g["lr"] for g in block.optimizer.param_groups], dtype=self.lrs.dtype)
        self.lrs[block.rows, : len(lrs)] = lrs.to(self.device)

    # -- the loop ------------------------------------------------------------------------------------
    def fit(self) -> None:
        previous = {signum: signal.signal(signum, self._on_signal) for signum in STOP_SIGNALS}
        log.info(
            "training jobs %s as one model on %s, with %d optimizer(s) (hydra/launcher=stacked)",
            ", ".join(str(job) for job in sorted(m.job for m in self.members)),
            self.device,
            len(self.blocks),
        )
        try:
            with self.bar:
                self._fit()
        except Stopped as stop:
            self._interrupted()
            handler = previous[stop.signum]
            if stop.signum == signal.SIGUSR2 and callable(handler):  # submitit's: it requeues the job, then exits
                signal.signal(stop.signum, handler)
                try:
                    handler(stop.signum, None)
                except Exception as error:  # not requeued (timed out too often): the members stay interrupted
                    log.warning("%s", error)
            raise SystemExit(stop.exit_status) from None
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum, frame) -> None:
        """Ctrl-C or SIGTERM: stop at the end of the step (a second Ctrl-C stops at once, without checkpoints)."""
        if self.stop_signal == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop_signal = signum

    def position(self, moment_: str, block: Block) -> Position:
        """Where the members of `block` stand now, as Lightning's loops would count it (progress.py)."""
        return Position(
            moment_,
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

    def moments(self, moment_: str) -> dict:
        """Every block's shared state now (snapshot.Moment), by block index."""
        generators = {m: self.members[m].generator.get_state() for m in self.moving}
        return {
            b: moment(
                block, self.position(moment_, block), {m: generators[m] for m in block.members if m in generators}
            )
            for b, block in enumerate(self.blocks)
        }

    def _fit(self) -> None:
        last_note = time.monotonic()
        for self.epoch in range(self.epoch, self.max_epochs):  # noqa: B020 (an attribute, read by the hooks)
            if not self.running:
                break
            started = time.monotonic()
            self.batch, self.validated_this_epoch, self.resume_batch = self.resume_batch, False, 0
            for block in self.blocks:
                block.scheduler_steps_this_epoch = 0
            if self.lr_monitor:
                self.history.record_lr(self.epoch, self.lrs)
            train = self._train_epoch()
            for block in self.blocks:  # epoch-interval schedulers step after the last batch, before validation
                if block.scheduler is not None and not isinstance(block.scheduler, ReduceLROnPlateau):
                    block.step_scheduler()
                    self._set_lrs(block)
            validated = (self.epoch + 1) % self.val_every == 0
            val = self.evaluate("val") if validated else {}
            self.validated_this_epoch = validated
            self.validated_before = self.validated_before or validated
            self.history.record(self.epoch, {**train, **self._parameters(), **val})
            self.history.epoch_done(self.epoch, validated)
            if validated:
                # Early stopping decides before the checkpoint is taken; the members it stops leave training after.
                stops = self.early.check({**train, **val}, self.training, self.epoch) if self.early else None
                if self.best is not None:
                    self._keep_best({**train, **val})
                if stops is not None:
                    self.training = self.training & ~stops
                    self.stopped_early = self.stopped_early | stops
                self._after_validation(val)
            self.bar.epoch_done(time.monotonic() - started)
            if not self.show_bar and (
                time.monotonic() - last_note > PROGRESS_EVERY_S or self.epoch + 1 == self.max_epochs
            ):
                last_note = time.monotonic()
                log.info(
                    "epoch %d/%d: %d of %d members training",
                    self.epoch + 1,
                    self.max_epochs,
                    len(self.running),
                    len(self.members),
                )

    def _train_epoch(self) -> dict[str, torch.Tensor]:
        stacked, totals = self.stacked, Totals(self.stacked)
        stacked.network.train()
        skip = self.batch  # done before a restart: the epoch goes on after them
        for x, y in itertools.islice(self.batches("train", shuffle=True, epoch=self.epoch), skip, None):
            with self.fabric.autocast():  # the precision plugin's context, in which a single run's steps run
                output = stacked.network(x)
                losses = stacked.losses(output, y)
                total = losses + stacked.penalty()  # what each single run's training_step returns
            if self.stops_on_divergence:  # a member whose loss is not finite stops training, here on the device
                finite = torch.isfinite(total.detach())
                new = self.training & ~finite
                self.bad_step = torch.where(new, self.step, self.bad_step)
                self.bad_loss = torch.where(new, total.detach(), self.bad_loss)
                self.training = self.training & finite
            # Members no longer training (diverged) add nothing, not even a NaN, to the objective.
            objective = torch.where(self.training, total, torch.zeros_like(total)).sum()
            # The rows of members stopped early stay as they were (an optimizer steps on with zero gradients).
            kept = [p.detach().clone() for p, _ in stacked.views] if (self.status == "stopped").any() else None
            stacked.step(objective, self.steppers, self.clipping, backward=self.fabric.backward)
            if kept is not None:
                with torch.no_grad():
                    for (p, _), before in zip(stacked.views, kept):
                        p.copy_(torch.where(self.training.view(-1, *[1] * (p.dim() - 1)), p, before))
            with torch.no_grad():
                totals.add(losses.detach(), output.detach(), y)
            self.step += 1
            self.batch += 1
            # A signal at the epoch's last batch is taken one step later: there Lightning validates first.
            if self.stop_signal is not None and self.batch < self.train_batches:
                raise Stopped(self.stop_signal)
        return totals.values("train")

    def _parameters(self) -> dict[str, torch.Tensor]:
        """params/weight_norm of every member, and params/w_error, b_error where the true ones are known."""
        with torch.no_grad():
            norm = torch.sqrt(sum(w.detach().pow(2).sum(dim=tuple(range(1, w.dim()))) for w in self.stacked.weights))
            values = {"params/weight_norm": norm}
            names, compute, _ = self.errors
            if compute is not None:
                values.update(zip(names, compute()))
        return values

    def _keep_best(self, values: dict[str, torch.Tensor]) -> None:
        """The members whose monitored metric improved (ModelCheckpoint's rule) into the best copy."""
        n, best = len(self.members), self.best
        if self.monitor is None:
            improved, score = self.training.clone(), torch.full((n,), float("nan"), device=self.device)
        elif self.monitor in values:
            score = values[self.monitor].float()
            better = score < best.score if self.mode == "min" else score > best.score
            improved = self.training & ((best.epoch < 0) | better)
        else:
            improved, score = torch.zeros(n, dtype=torch.bool, device=self.device), best.score
        rows = self.early.state if self.early is not None else None
        best.update(improved, score, self.epoch, self.moments("validated"), rows)

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, torch.Tensor]:
        self.stacked.network.eval()
        totals = Totals(self.stacked)
        for x, y in self.batches(split, shuffle=False, epoch=self.epoch):
            with self.fabric.autocast():
                output = self.stacked.network(x)
                totals.add(self.stacked.losses(output, y), output, y)
        return totals.values(split)

    # -- once per validation: one read --------------------------------------------------------------
    def _read(self, upto: int) -> tuple[np.ndarray, np.ndarray]:
        """The history up to epoch `upto` and the masks on the host; members found diverged are stopped.
        The best epochs and scores, on the host."""
        self._best_host = None  # the best state changes between reads
        best = [self.best.epoch, self.best.score] if self.best is not None else []
        # Early stopping: who it stopped, its state now and at each member's best checkpoint (for their files).
        early = [self.stopped_early, self.early.state, self.best.rows if self.best else None] if self.early else []
        training, bad_step, bad_loss, *kept = self.history.read(
            upto, self.training, self.bad_step, self.bad_loss, *[t for t in early if t is not None], *best
        )
        stopped = np.flatnonzero((training < 0.5) & (self.status == "running"))
        if self.early is not None:
            by_early, now = kept.pop(0) > 0.5, kept.pop(0)
            self._early_host = (now, kept.pop(0) if self.best is not None else None)
            early_stops, stopped = stopped[by_early[stopped]], stopped[~by_early[stopped]]
        best_epoch, best_score = kept if kept else (np.full(len(self.members), -1.0), None)
        if self.early is not None and len(early_stops):
            self._stopped(early_stops, best_epoch, best_score)
        for m in stopped:
            self._diverged(int(m), int(bad_step[m]), float(bad_loss[m]), best_epoch, best_score)
        if self.best is not None:
            self.best.forget({int(e) for e in best_epoch[self.status == "running"]} | {self.epoch})
        self.bar.members(int((self.status == "running").sum()), int((self.status == "diverged").sum()))
        return best_epoch, best_score

    def _after_validation(self, val: dict) -> None:
        best_epoch, best_score = self._read(self.epoch + 1)
        for block in self.blocks:  # ReduceLROnPlateau after validation, on its (one) member's val/loss
            if isinstance(block.scheduler, ReduceLROnPlateau) and self.status[block.first] == "running":
                block.step_scheduler(float(self.history.host[self.epoch, block.first, self.history.index["val/loss"]]))
                self._set_lrs(block)
        if self.write_interval is not None and time.monotonic() - self.written_at >= self.write_interval:
            self._write(self.running, "validated", best_epoch, best_score)

    def _diverged(self, m: int, step: int, loss: float, best_epoch: np.ndarray, best_score) -> None:
        """A member whose training loss became NaN or infinite stops; its metrics.json says where."""
        member = self.members[m]
        epoch = step // self.train_batches
        error = Diverged(loss, epoch, step, member.optimizer.param_groups[0]["lr"])
        member.log.error("%s", error)
        member.status = self.status[m] = "diverged"
        # Its metrics up to the epoch before, and the best checkpoint of a validation before the bad step.
        task = self._task(m, epoch, best_epoch, best_score, None, None)
        task.metrics = {"status": "diverged", "epoch": epoch, "step": step, "error": str(error)}
        task.close = "diverged"
        self._send(task)

    def _stopped(self, stopped: np.ndarray, best_epoch: np.ndarray, best_score) -> None:
        """Members that early stopping stopped at this validation: their files as their single runs' at the end of
        training (last.ckpt now); their test comes with the others'."""
        host_now = HostState.now([p for p, _ in self.stacked.views], self.blocks) if self.best is not None else None
        now = self.moments("end") if self.best is not None else None
        for m in stopped:
            member = self.members[m]
            member.status = self.status[m] = "stopped"
            member.stopped = (self.epoch + 1, self.step, self.early.record(self._early_host[0][m]))
            self._send(self._task(int(m), self.epoch + 1, best_epoch, best_score, host_now, now))

    # -- the members' files --------------------------------------------------------------------------
    def _send(self, task: Task) -> None:
        if self.writer is not None:
            self.writer.send(task)

    def _write(self, members: list[int], moment_: str, best_epoch: np.ndarray, best_score) -> None:
        """Every member's new metrics and checkpoints, to the writer; last.ckpt with the state now (`moment_`)."""
        self.written_at = time.monotonic()
        host_now = HostState.now([p for p, _ in self.stacked.views], self.blocks) if self.best is not None else None
        now = self.moments(moment_) if self.best is not None else None
        for m in members:
            self._send(self._task(int(m), self.history.read_upto, best_epoch, best_score, host_now, now))

    def _task(self, m: int, upto: int, best_epoch, best_score, host_now, now) -> Task:
        """Member m's metrics of epochs [logged_upto, upto), its best checkpoint if it is new, and last.ckpt
        from `host_now` at the moments `now` (None: no last.ckpt)."""
        member = self.members[m]
        task = Task(m)
        task.events, task.history = self._events(member, upto)
        member.logged_upto = max(member.logged_upto, upto)
        if member.checkpoint is None or self.best is None:
            return task
        epoch = int(best_epoch[m])
        score = None if self.monitor is None else float(best_score[m])
        if epoch >= 0 and epoch != member.best_epoch and epoch in self.best.moments:
            moment_ = self.best.moments[epoch][member.block_index]
            path = member.checkpoint_name(self.last_values(m, epoch + 1), epoch, moment_.position.step)
            if self._best_host is None:  # one copy of the best state to the host per round of writes
                self._best_host = self.best.host()
            early = self.early.callback_state(self._early_host[1][m]) if self.early is not None else None
            contents = member.checkpoint_contents(self._best_host, self.blocks, moment_, path, score, None, early)
            task.checkpoints.append((path, contents))
            if member.best_path and member.best_path != path:
                task.remove.append(member.best_path)
            member.best_path, member.best_epoch = path, epoch
        last = now[member.block_index] if now is not None else None
        if host_now is not None and last is not None and (member.save_last or last.position.moment == "interrupted"):
            best = score if member.best_path else None
            early = self.early.callback_state(self._early_host[0][m]) if self.early is not None else None
            contents = member.checkpoint_contents(
                host_now, self.blocks, last, member.best_path, best, member.last_path, early
            )
            task.checkpoints.append((member.last_path, contents))
        return task

    def _events(self, member: Member, upto: int) -> tuple[list, tuple | None]:
        """The member's TensorBoard points of epochs [logged_upto, upto), and its rows of history.csv:
        (column names, rows), NaN where an epoch has no value."""
        history, m = self.history, member.index
        index = history.index
        train = [c for c in history.columns if c.startswith(("train/", "params/"))]
        train = [c for c in train if c not in self.errors[0] or self.errors[2][m]]
        val = history.columns_of("val/")
        lr_columns = [index[f"{LR}{g + 1}"] for g in range(len(member.lr_names))] if self.lr_monitor else []
        epochs = [e for e in range(member.logged_upto, upto) if history.trained[e]]
        if not epochs:
            return [], None
        names = ["epoch", *train, *val, *(member.lr_names if self.lr_monitor else [])]
        table = history.host[epochs, m][:, [index[c] for c in train + val] + lr_columns].astype(float)
        table[~history.validated[epochs], len(train) : len(train) + len(val)] = np.nan  # not logged then
        events = []
        for epoch, row in zip(epochs, table):
            if lr_columns:
                lrs = dict(zip(member.lr_names, row[len(train) + len(val) :].tolist()))
                events.append((epoch * self.train_batches, history.lr_walltime[epoch], lrs))
            # Lightning logs the validation's metrics and the training epoch's in two calls, each with the epoch.
            step, walltime = (epoch + 1) * self.train_batches - 1, history.walltime[epoch]
            if history.validated[epoch]:
                values = dict(zip(val, row[len(train) : len(train) + len(val)].tolist()))
                events.append((step, walltime, {**values, "epoch": epoch}))
            events.append((step, walltime, {**dict(zip(train, row[: len(train)].tolist())), "epoch": epoch}))
        return events, (names, np.column_stack([np.array(epochs, dtype=float), table]))

    def last_values(self, m: int, upto: int) -> dict[str, float]:
        """Member m's latest value of every metric logged in epochs [0, upto), as its single run's metrics hold them."""
        history, member = self.history, self.members[m]
        values = {}
        trained = np.flatnonzero(history.trained[:upto])
        validated = np.flatnonzero(history.validated[:upto])
        for column in history.columns:
            epochs = validated if column.startswith("val/") else trained
            if not len(epochs) or (column in self.errors[0] and not self.errors[2][m]):
                continue
            value = float(history.host[epochs[-1], m, history.index[column]])
            if column.startswith(LR):
                group = int(column[len(LR) :]) - 1
                if not self.lr_monitor or group >= len(member.lr_names):
                    continue
                column = member.lr_names[group]
            values[column] = value
        return values

    # -- the end -------------------------------------------------------------------------------------
    def test(self) -> list[float | None]:
        """Each completed member's best weights on its test split; metrics.json; the values the jobs return."""
        self.epoch = self.max_epochs - 1  # the last epoch: last.ckpt is the state at the end of training
        best_epoch, best_score = self._read(self.max_epochs)
        finished = sorted([*self.running, *np.flatnonzero(self.status == "stopped")])
        host_now = HostState.now([p for p, _ in self.stacked.views], self.blocks) if self.best is not None else None
        now = self.moments("end") if self.best is not None else None
        return self._test(finished, best_epoch, best_score, host_now, now)

    def _test(self, finished: list[int], best_epoch: np.ndarray, best_score, host_now, now) -> list[float | None]:
        """The members `finished` tested and completed; last.ckpt from `host_now` at `now` for those still running."""
        if self.best is not None:  # the members' best weights into the stack
            has = torch.as_tensor(best_epoch >= 0, device=self.device)
            with torch.no_grad():
                for (p, _), kept in zip(self.stacked.views, self.best.weights):
                    p.copy_(torch.where(has.view(-1, *[1] * (p.dim() - 1)), kept, p))
        tested = self.evaluate("test")
        grid = self._grid_predictions() if self.grid is not None else None
        parts = [torch.stack([tested[f"test/{c.split('/', 1)[1]}"] for c in self.test_columns], 1)]
        if grid is not None:
            parts.append(grid.to(parts[0].dtype))
        host = torch.cat(parts, 1).cpu().numpy()
        values = [None] * len(self.members)
        scores = self._baseline_scores(finished)
        for m in finished:
            member = self.members[m]
            # A member stopped early has its last.ckpt already; its test is logged where its training ended.
            epochs, step, stopped = member.stopped or (self.max_epochs, self.step, {})
            last = (host_now, now) if not member.stopped else (None, None)
            task = self._task(m, epochs, best_epoch, best_score, *last)
            test = {c: float(host[m, i]) for i, c in enumerate(self.test_columns)}
            task.events.append((step, time.time(), {**test, "epoch": epochs}))
            metrics = {**self.last_values(m, epochs), **test, **scores[m]}
            record, values[m] = member.result(metrics, epochs, stopped)
            task.metrics, task.hparams, task.close = record, dict(sorted(metrics.items())), "completed"
            if grid is not None and member.datamodule.is_image and member.datamodule.task == "classification":
                task.grid = self._grid(member, host[m, len(self.test_columns) :], step)
            self._send(task)
        return values

    def _baseline_scores(self, members: list[int]) -> dict[int, dict[str, float]]:
        """Each member's linear baseline scores (litlab/baseline.py), fitted and scored once per data module the
        members share (the members of a group share their loss and scores: StackedSystem). The fits were started
        in the background when the group began (`baselines`, baseline.Ahead); they are waited for here."""
        if self.baselines is not None:
            with phase("baselines"):  # waiting for the fits (the test phase includes it)
                self.baselines.collect()
        by_source = {}
        for m in members:
            if self.source[m] not in by_source:
                by_source[self.source[m]] = baseline.scores(self.members[m].datamodule, self.members[m].system)
        return {m: by_source[self.source[m]] for m in members}

    def _grid_predictions(self) -> torch.Tensor | None:
        """The predicted class of the first test images, per member (N, k): what PredictionGrid shows."""
        first = self.members[0].datamodule
        if not getattr(first, "is_image", False) or first.task != "classification":
            return None
        k = self.grid.get("num_images", 18)
        x, _ = self.batches._split("test")
        with torch.no_grad(), self.fabric.autocast():
            output = self.stacked.network(x[:, :k][self.batches.source])
        return output.argmax(-1)

    def _grid(self, member: Member, predicted: np.ndarray, step: int) -> tuple:
        data = member.datamodule
        x, y = data.splits["test"]
        k = len(predicted)
        names = data.class_names or [str(i) for i in range(data.num_outputs)]
        return x[:k].numpy(), predicted.astype(int), y[:k].numpy(), names, step

    def _interrupted(self) -> None:
        best_epoch, best_score = self._read(self.epoch)
        host_now = HostState.now([p for p, _ in self.stacked.views], self.blocks) if self.best is not None else None
        now = self.moments("interrupted") if self.best is not None else None
        for m in self.running:
            member = self.members[m]
            task = self._task(m, self.epoch, best_epoch, best_score, host_now, now)
            resume = f"python train.py resume={member.output_dir}"
            member.status = self.status[m] = "interrupted"
            task.metrics = {"status": "interrupted", "epoch": self.epoch, "step": self.step, "resume": resume}
            task.close = "interrupted"
            self._send(task)
            member.log.warning(
                "interrupted at epoch %d, step %d; saved %s. Resume with: python train.py resume=%s",
                self.epoch,
                self.step,
                member.last_path,
                member.output_dir,
            )
        stopped = list(np.flatnonzero(self.status == "stopped"))
        if stopped:  # members that early stopping had stopped: done training, tested as their single runs end
            self._test(stopped, best_epoch, best_score, None, None)


def _parameter_errors(members: list[Member], stacked: StackedSystem, device: torch.device):
    """(names, a function giving each as (N,), which members have them): params/w_error and b_error of
    linear regression on synthetic data, whose true w and b are known."""
    has = np.array([bool(getattr(m.system, "param_errors", dict)()) for m in members])
    linears = [layer for layer in stacked.network.layers if isinstance(layer, StackedLinear)]
    if not has.any() or len(linears) != 1:
        return [], None, has
    linear = linears[0]
    n = len(members)
    w_true = torch.zeros(n, linear.weight[0].numel(), device=device)
    b_true = torch.zeros(n, device=device)
    for m, member in enumerate(members):
        if has[m]:
            w_true[m] = torch.as_tensor(member.system.true_params["w"], dtype=w_true.dtype).flatten()
            b_true[m] = float(member.system.true_params["b"])
    names = ["params/w_error"] + (["params/b_error"] if linear.bias is not None else [])

    def compute() -> list[torch.Tensor]:
        errors = [torch.linalg.vector_norm(linear.weight.detach().flatten(1) - w_true, dim=1)]
        if linear.bias is not None:
            errors.append((linear.bias.detach()[:, 0] - b_true).abs())
        return errors

    return names, compute, has


def _moving_generators(stacked: StackedSystem, n: int) -> list[int]:
    """The members with dropout: their generators move with every training step."""
    moving = set()
    for layer in stacked.network.layers:
        if isinstance(layer, StackedDropout):
            moving.update(m for m, d in enumerate(layer.layers) if d is not None and d.p > 0)
    return sorted(moving)
