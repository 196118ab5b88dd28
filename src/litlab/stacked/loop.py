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
from litlab.stacked.system import StackedSystem

log = logging.getLogger("litlab.stacked")

PROGRESS_EVERY_S = 10.0   # seconds between progress lines in the log


class Stopped(Exception):
    """SIGTERM arrived: stop at the end of this step, as Lightning does."""


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
        except Exception as error:   # a bad value the config checks could not see: this job fails alone
            log.error("job %d failed: %s", member.job, error)
            member.fail("failed", error=str(error))
            continue
        # Its dropout masks continue the random stream its single run would draw them from (on a CPU).
        generator = torch.Generator(device=device)
        if device.type == "cpu":
            generator.set_state(torch.get_rng_state())
        else:
            generator.manual_seed(cfg.seed)
        built.append(member)
        generators.append(generator)
    return built, generators


def attach_optimizers(members: list[Member]) -> None:
    """Each member's optimizer and scheduler from its own system, as Lightning would configure them."""
    for member in members:
        try:
            configured = member.system.configure_optimizers()
        except Exception as error:
            member.log.error("job %d failed: %s", member.job, error)
            member.fail("failed", error=str(error))
            continue
        if isinstance(configured, dict):
            member.optimizer, member.scheduler = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
        else:
            member.optimizer = configured


class Totals:
    """An epoch's sums per member: loss times batch size, the scores' sums (StackedSystem.score_sums), samples."""

    def __init__(self):
        self.loss, self.sums, self.count = 0.0, {}, 0

    def add(self, losses: torch.Tensor, sums: dict[str, torch.Tensor], size: int) -> None:
        self.loss = self.loss + losses * size
        self.sums = {key: self.sums.get(key, 0.0) + value for key, value in sums.items()}
        self.count += size

    def values(self, stage: str, stacked: StackedSystem) -> list[dict]:
        """Each member's epoch metrics, `{stage}/loss` and its scores."""
        columns = {"loss": self.loss / self.count, **stacked.epoch_scores(self.sums, self.count)}
        rows = zip(*(values.tolist() for values in columns.values()))
        return [{f"{stage}/{name}": value for name, value in zip(columns, row)} for row in rows]


class StackedLoop:
    def __init__(self, members: list[Member], stacked: StackedSystem, device: torch.device):
        self.members, self.stacked, self.device = members, stacked, device
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
        self.step, self.epoch = 0, 0
        self.pending: list[tuple[int, int, torch.Tensor]] = []   # (epoch, step, members' losses) not yet checked
        self.stop_signal = False

    @property
    def running(self) -> list[int]:
        return [m for m, member in enumerate(self.members) if member.status == "running"]

    # -- batches -------------------------------------------------------------------------------------
    def batches(self, split: str, shuffle: bool):
        """(x, y) of shape (N, B, ...), (N, B): each member's batch from its own split, in its own order."""
        tensors = [d.on_device(split, self.device) for d in self.datamodules]
        samplers = [IndexBatchSampler(len(x), d.batch_size, shuffle, d.drop_last and shuffle, d.seed, device=self.device)
                    for d, (x, _) in zip(self.datamodules, tensors)]
        for sampler in samplers:
            sampler.set_epoch(self.epoch)
        for indices in zip(*samplers):
            parts = [(x.index_select(0, i), y.index_select(0, i)) for (x, y), i in zip(tensors, indices)]
            if len(parts) == 1:   # one data module: the same batch for every member, not copied
                x, y = parts[0]
                yield x.expand(len(self.members), *x.shape), y.expand(len(self.members), *y.shape)
            else:
                yield (torch.stack([parts[s][0] for s in self.source]), torch.stack([parts[s][1] for s in self.source]))

    # -- the loop ------------------------------------------------------------------------------------
    def fit(self) -> None:
        previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        log.info("training jobs %s as one model on %s (hydra/launcher=stacked)",
                 ", ".join(str(m.job) for m in self.members), self.device)
        try:
            self._fit()
        except (KeyboardInterrupt, Stopped) as stop:
            self._interrupted()
            raise SystemExit(143 if isinstance(stop, Stopped) else 130) from None
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _on_sigterm(self, signum, frame) -> None:
        self.stop_signal = True

    def _fit(self) -> None:
        last_note = time.monotonic()
        for self.epoch in range(self.max_epochs):
            if not self.running:
                break
            if self.lr_monitor:
                for m in self.running:
                    if self.members[m].loggers:
                        self.members[m].log_metrics(self.members[m].lr_metrics(), self.step)
            self._train_epoch()
            self._check_divergence()
            running = self.running
            for m in running:
                scheduler = self.members[m].scheduler
                if scheduler is not None and not isinstance(scheduler, ReduceLROnPlateau):
                    scheduler.step()
            validated = (self.epoch + 1) % self.val_every == 0
            val = self.evaluate("val") if validated else None
            for m in running:
                member = self.members[m]
                values = {**self.train_totals[m], "params/weight_norm": member.system.weight_norm()}
                values.update(getattr(member.system, "param_errors", dict)())
                if val is not None:
                    values.update(val[m])
                member.log_metrics(values, self.step - 1, epoch=self.epoch)
                if validated:
                    member.save_checkpoints(self.epoch, self.step)
                if isinstance(member.scheduler, ReduceLROnPlateau) and val is not None:
                    member.scheduler.step(member.metrics["val/loss"])
            if time.monotonic() - last_note > PROGRESS_EVERY_S or self.epoch + 1 == self.max_epochs:
                last_note = time.monotonic()
                log.info("epoch %d/%d: %d of %d members training", self.epoch + 1, self.max_epochs,
                         len(self.running), len(self.members))
        self.epoch = self.max_epochs

    def _train_epoch(self) -> None:
        stacked, totals = self.stacked, Totals()
        stacked.network.train()
        for x, y in self.batches("train", shuffle=True):
            running = self.running
            active = torch.zeros(len(self.members), dtype=torch.bool, device=self.device)
            active[running] = True
            output = stacked.network(x)
            losses = stacked.losses(output, y)
            total = losses + stacked.penalty()   # what each single run's training_step returns
            # Members no longer training (diverged) add nothing, not even a NaN, to the objective.
            objective = torch.where(active, total, torch.zeros_like(total)).sum()
            stacked.step(objective, {m: self.members[m].optimizer for m in running})
            with torch.no_grad():
                totals.add(losses.detach(), stacked.score_sums(output.detach(), y), y.shape[1])
            self.pending.append((self.epoch, self.step, total.detach()))
            self.step += 1
            if self.check_every and len(self.pending) >= self.check_every:
                self._check_divergence()
            if self.stop_signal:
                raise Stopped
        self.train_totals = totals.values("train", stacked)

    def _check_divergence(self) -> None:
        """A member whose training loss became NaN or infinite stops; its metrics.json says where."""
        if not self.pending or not self.check_every:
            self.pending = []
            return
        losses = torch.stack([p[2] for p in self.pending]).float()   # (steps, N)
        finite = torch.isfinite(losses)
        pending, self.pending = self.pending, []
        if bool(finite.all()):   # the one read on the host
            return
        for m in self.running:
            bad = (~finite[:, m]).nonzero()
            if len(bad):
                epoch, step, _ = pending[int(bad[0])]
                member = self.members[m]
                lr = member.optimizer.param_groups[0]["lr"]
                error = Diverged(float(losses[int(bad[0]), m]), epoch, step, lr)
                member.log.error("%s", error)
                member.write_checkpoints()   # those of its last validation before the bad step, as a single run has
                member.fail("diverged", epoch=epoch, step=step, error=str(error))

    @torch.no_grad()
    def evaluate(self, split: str) -> list[dict]:
        self.stacked.network.eval()
        totals = Totals()
        for x, y in self.batches(split, shuffle=False):
            output = self.stacked.network(x)
            totals.add(self.stacked.losses(output, y), self.stacked.score_sums(output, y), y.shape[1])
        return totals.values(split, self.stacked)

    # -- the end -------------------------------------------------------------------------------------
    def test(self) -> list[float | None]:
        """Each completed member's best checkpoint on its test split; metrics.json; the values the jobs return."""
        running = self.running
        for m in running:
            member = self.members[m]
            if member.best_state is not None:   # its best weights into its slice of the stacked network
                member.system.load_state_dict(member.best_state["state_dict"])
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
        trainer = SimpleNamespace(is_global_zero=True, datamodule=member.datamodule, loggers=member.loggers,
                                  global_step=self.step)
        instantiate(self.grid).on_test_end(trainer, member.system)

    def _interrupted(self) -> None:
        for m in self.running:
            member = self.members[m]
            path = member.write_checkpoints(now=(self.epoch, self.step))
            member.fail("interrupted", epoch=self.epoch, step=self.step)
            member.log.warning("interrupted at epoch %d, step %d; saved %s", self.epoch, self.step, path)
