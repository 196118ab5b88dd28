"""Build a run from its config, train it, test the best checkpoint, write `metrics.json`.

`train(cfg)` is the whole run and raises on bad input; `main(cfg)` is what `train.py` calls: it turns
a `LitlabError` into one line on stderr, and inside a multirun records a failed job and lets the
sweep go on instead of ending it (returning None, which every sweeper accepts, never NaN).
"""

import json
import logging
import math
import os
import socket
import sys
import warnings
from datetime import datetime
from typing import NamedTuple

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelSummary, ProgressBar
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from litlab import baseline, finetune
from litlab.callbacks.divergence import Diverged
from litlab.checkpoints import AtomicCheckpointIO, read_checkpoint, resume_checkpoint
from litlab.config.checks import check_run
from litlab.devices import check_trainer_arguments, instantiate_trainer, keep_log_file_on_rank_zero
from litlab.errors import LitlabError
from litlab.provenance import resumed_overrides, write_run_info
from litlab.record import TRAIN_LOG, log_hparams, number, optimized_value, print_summary, write_metrics
from litlab.systems import SYSTEMS

log = logging.getLogger("litlab")

# Batches come from memory in the main process (litlab/data/batching.py), so these hints do not apply.
warnings.filterwarnings("ignore", ".*does not have many workers.*")
warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")
warnings.filterwarnings("ignore", ".*isinstance.treespec, LeafSpec.*")  # inside Lightning itself
warnings.filterwarnings("ignore", ".*Checkpoint directory .* exists and is not empty.*")  # resume=: its own folder


def main(cfg: DictConfig) -> float | None:
    setup_logging()
    try:
        value = train(cfg)
    except Diverged as error:  # metrics.json already says `diverged`; a sweep goes on with the next job
        log.error("%s", error)
        if not _in_multirun():
            raise SystemExit(3) from None
        return None  # not NaN: Optuna's sweeper ends the whole study on a NaN, it marks a None trial failed
    except Exception as error:
        if not _in_multirun():
            if isinstance(error, LitlabError) and not os.environ.get("HYDRA_FULL_ERROR"):
                print(f"error: {error}", file=sys.stderr)
                raise SystemExit(2) from None
            raise
        # One bad job must not end a sweep: record it where the report will look, and go on.
        log.exception("job failed: %s", error)
        write_metrics(cfg, {"status": "failed", "error": str(error)})
        return None
    # Nor a NaN metric: None again, for the same reason.
    return value if value is None or math.isfinite(value) else None


def setup_logging() -> None:
    # `import lightning` adds console handlers of its own, and when the root logger had none at that
    # moment (lightning imported before Hydra set up logging: a notebook, `litlab.train`) it also stops
    # its messages from reaching the root. Hydra's root handlers print each message and write it to the
    # run's train.log; without this, lines show twice or miss train.log.
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    keep_log_file_on_rank_zero()


class Outcome(NamedTuple):
    """What `fit` leaves: the metric a sweeper optimizes, metrics.json's record, and the run's live objects."""

    value: float | None
    record: dict
    trainer: L.Trainer
    system: L.LightningModule  # holds the weights that were tested: the best checkpoint's


def train(cfg: DictConfig) -> float | None:
    """Fit, test the best checkpoint, write metrics.json; return the metric named by `optimized_metric`."""
    return fit(cfg).value


def fit(cfg: DictConfig) -> Outcome:
    """`train`, keeping the trainer and the system (for `litlab.train` in Python)."""
    datamodule, system, trainer = build(cfg)
    ckpt_path = resume_checkpoint(cfg.get("ckpt_path"), cfg.get("resume"))
    if trainer.is_global_zero:
        overrides = _overrides()
        if cfg.get("resume"):  # the folder keeps the overrides that made it (a sweep's report reads them)
            overrides = resumed_overrides(cfg.paths.output_dir, overrides)
        write_run_info(cfg.paths.output_dir, overrides)
        said = "resumed with" if cfg.get("resume") else "overrides"
        TRAIN_LOG.info("%s: %s", said, " ".join(overrides) or "none (conf/train.yaml as it is)")
        # Replaced when the run ends; a run killed outright (SIGKILL, power loss) keeps it, and the sweep
        # report tells such a job from a live one by its pid and host.
        write_metrics(
            cfg,
            {
                "status": "running",
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": datetime.now().isoformat(timespec="seconds"),
            },
        )
    try:
        trainer.fit(system, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=False)
    except Diverged as error:
        if trainer.is_global_zero:
            write_metrics(cfg, {"status": "diverged", "epoch": error.epoch, "step": error.step, "error": str(error)})
        raise
    except (KeyboardInterrupt, SystemExit) as error:  # Ctrl-C (Lightning exits) or SIGTERM
        if trainer.is_global_zero:
            write_metrics(
                cfg,
                {
                    "status": "interrupted",
                    "epoch": trainer.current_epoch,
                    "step": trainer.global_step,
                    "resume": f"python train.py resume={cfg.paths.output_dir}",
                },
            )
        raise SystemExit(143 if isinstance(error, SIGTERMException) else 130) from None
    metrics = {k: number(v) for k, v in trainer.callback_metrics.items()}
    stopped = stopped_early(trainer)  # read before the test: loading the best checkpoint restores the callbacks
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    # Our own checkpoints (a config in their hyperparameters): weights_only=False, as Lightning defaults to.
    tested = trainer.test(system, datamodule=datamodule, ckpt_path=best or None, verbose=False, weights_only=False)
    metrics.update({k: number(v) for k, v in tested[0].items()})
    if trainer.is_global_zero:
        metrics.update(baseline.scores(datamodule, system))
    metrics = dict(sorted(metrics.items()))
    record = {"status": "completed", "epochs": trainer.current_epoch, **stopped}
    record.update(best_checkpoint=best, **metrics)
    if trainer.is_global_zero:
        write_metrics(cfg, record)
        log_hparams(trainer.loggers, cfg, metrics)
        print_summary(cfg, record)
    return Outcome(optimized_value(cfg, metrics), record, trainer, system)


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule, L.Trainer]:
    """The data module (loaded), the system around its network, and the Trainer, all from `cfg`."""
    check_run(cfg)
    check_trainer_arguments(cfg.trainer)
    datamodule, system = build_system(cfg, _starting_checkpoint(cfg))
    return datamodule, system, build_trainer(cfg)


def build_system(cfg: DictConfig, checkpoint: dict | None = None) -> tuple[L.LightningDataModule, L.LightningModule]:
    """The data module, loaded, and the training system around a fresh network (also used by eval.py).

    `checkpoint`: a checkpoint whose data module state (a table's fitted preprocessing) the data module
    takes instead of fitting its own, so its rows are transformed as the weights expect them.
    """
    L.seed_everything(cfg.seed, workers=True, verbose=False)  # the seed is in the config
    datamodule = load_data(cfg.data, checkpoint)
    return datamodule, system_for(cfg, datamodule)


def load_data(data_cfg: DictConfig, checkpoint: dict | None = None) -> L.LightningDataModule:
    """The data module with its splits loaded: the network's input and output sizes come from them."""
    datamodule = instantiate(data_cfg)
    state = (checkpoint or {}).get(type(datamodule).__qualname__)  # where Lightning saves a data module's state
    if state:
        datamodule.load_state_dict(state)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def system_for(
    cfg: DictConfig,
    datamodule: L.LightningDataModule,
    made: dict | None = None,
    config: dict | None = None,
    metrics: bool = True,
) -> L.LightningModule:
    """The training system around a fresh network for `datamodule`'s shapes (seeded by the caller).

    A stacked group builds many: `made` is its cache of what is made from equal config nodes (the optimizer
    and scheduler factories, the network's constructor with its arguments), filled in as it goes; each
    member still gets a network of its own, drawn from its own seeded random state. `config`: `cfg`
    resolved into a container, when the caller has it already. `metrics`: the system's (systems/base.py).
    """
    config = OmegaConf.to_container(cfg, resolve=True) if config is None else config
    shapes = {"in_features": datamodule.num_features, "out_features": datamodule.num_outputs}
    if made is None or any(isinstance(v, dict) and "_target_" in v for v in config["model"].values()):
        network = instantiate(finetune.network_config(cfg.model), **shapes)  # a nested object is each network's own
    else:
        constructor = _made(
            made,
            ("model", config["model"], shapes),
            lambda: instantiate(finetune.network_config(cfg.model), **shapes, _partial_=True),
        )
        network = constructor()
    finetune.prepare(network, cfg.get("init_from"), cfg.model.get("freeze"))
    task_args = (
        {"num_classes": datamodule.num_outputs}
        if datamodule.task == "classification"
        else {"true_params": datamodule.true_params, "target_scaling": datamodule.target_scaling}
    )
    scheduler = (
        _made(made, ("scheduler", config.get("scheduler")), lambda: instantiate(cfg.scheduler))
        if cfg.get("scheduler")
        else None
    )
    system = SYSTEMS[datamodule.task](
        network,
        _made(made, ("optimizer", config["optimizer"]), lambda: instantiate(cfg.optimizer)),
        scheduler=scheduler,
        l1=cfg.regularization.l1,
        l2=cfg.regularization.l2,
        l2_impl=cfg.regularization.get("impl", "torch"),
        log_step_metrics=cfg.get("log_step_metrics", False),
        config=config,
        metrics=metrics,
        **task_args,
    )
    return system


def _made(made: dict | None, key: tuple, make):
    """`make()`, or what it made before for an equal `key` (a tuple of plain values) when `made` caches."""
    if made is None:
        return make()
    key = json.dumps(key, sort_keys=True, default=str)
    if key not in made:
        made[key] = make()
    return made[key]


def _starting_checkpoint(cfg: DictConfig) -> dict | None:
    """The checkpoint a run starts from (`init_from`, `ckpt_path`, `resume`), read; None for a fresh run."""
    if cfg.get("init_from"):
        return read_checkpoint(cfg.init_from, key="init_from", weights_only=True)
    path = resume_checkpoint(cfg.get("ckpt_path"), cfg.get("resume"))
    return read_checkpoint(path) if path else None


def stopped_early(trainer: L.Trainer) -> dict:
    """`{"stopped_early": {...}}` when an EarlyStopping callback ended training, with its reason; else {}."""
    for callback in trainer.early_stopping_callbacks:
        record = early_stop_record(callback)
        if record:
            return record
    return {}


def early_stop_record(callback: EarlyStopping) -> dict:
    """`{"stopped_early": {...}}` when this EarlyStopping callback stopped training (also a stacked member's)."""
    if not callback.stopping_reason_message:
        return {}
    why = {
        "reason": callback.stopping_reason.name.lower(),  # patience_exhausted, stopping_threshold, ...
        "monitor": callback.monitor,
        "patience": callback.patience,
        "message": callback.stopping_reason_message.removesuffix(" Signaling Trainer to stop."),
    }
    return {"stopped_early": why}


def build_trainer(cfg: DictConfig) -> L.Trainer:
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    if not logger:  # logger=none: the lr monitor has nowhere to write and Lightning refuses it
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    quiet = {}
    if _in_multirun():  # a job prints its overrides (Hydra) and its result: the sweep's report has the rest
        callbacks = [c for c in callbacks if not isinstance(c, (ProgressBar, ModelSummary))]
        quiet = {"enable_progress_bar": False}
    extra = instantiate(cfg.trainer.plugins) or []
    plugins = [AtomicCheckpointIO(), *(extra if isinstance(extra, list) else [extra])]  # never a half-written ckpt
    return instantiate_trainer(cfg, logger=logger, callbacks=callbacks, plugins=plugins, **quiet)


def _overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
