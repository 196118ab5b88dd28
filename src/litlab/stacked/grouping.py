"""Which jobs of a sweep can train together, and which must run alone.

Two jobs stack when their configs are equal once the stackable keys are removed: those keys change
numbers (initial weights, data order, step sizes, penalties, dropout rates), never shapes or step counts.
A job whose config the stacked loop does not reproduce exactly (`unstackable` names the reason) runs alone.
"""

import json

from omegaconf import DictConfig, OmegaConf

# Keys whose values may differ inside a group: each member keeps its own.
STACKABLE = ("seed", "optimizer", "regularization.l1", "regularization.l2", "model.dropout", "scheduler")

MODELS = ("litlab.models.mlp.MLP", "litlab.models.softmax.SoftmaxRegression", "litlab.models.linreg.LinearRegression")
LOGGERS = (
    "litlab.loggers.tensorboard.TensorBoardLogger",
    "lightning.pytorch.loggers.TensorBoardLogger",
    "lightning.pytorch.loggers.tensorboard.TensorBoardLogger",
    "lightning.pytorch.loggers.CSVLogger",
    "lightning.pytorch.loggers.csv_logs.CSVLogger",
)
CHECKPOINT_KEYS = {"dirpath", "filename", "monitor", "mode", "save_last", "auto_insert_metric_name", "verbose"}
# Callbacks the stacked loop does per member itself (checkpoint, lr log, divergence, Ctrl-C) or can leave out.
CALLBACKS = {
    "lightning.pytorch.callbacks.ModelCheckpoint": CHECKPOINT_KEYS,
    # The stacked loop holds a member's checkpoints in memory and writes them when it stops, so no interval applies.
    "litlab.callbacks.interval_checkpoint.IntervalCheckpoint": CHECKPOINT_KEYS | {"write_interval"},
    "lightning.pytorch.callbacks.LearningRateMonitor": {"logging_interval"},
    "litlab.callbacks.progress.ThrottledRichProgressBar": None,  # the stacked loop logs its own progress
    "lightning.pytorch.callbacks.RichProgressBar": None,
    "lightning.pytorch.callbacks.TQDMProgressBar": None,
    "litlab.callbacks.summary.NetworkSummary": None,  # a multirun's job prints no summary
    "litlab.callbacks.prediction_grid.PredictionGrid": None,
    "litlab.callbacks.divergence.StopOnDivergence": None,
    "litlab.callbacks.resumable.Resumable": None,
    # Per member (early_stopping.py): the patience rule and the check for a finite metric.
    "lightning.pytorch.callbacks.EarlyStopping": {"monitor", "mode", "patience", "min_delta", "check_finite"},
}
# Precisions whose single runs keep 32-bit weights and need no loss scale: the loop runs them through Fabric's
# precision plugin, as the single run's Trainer does (bf16 is Lightning's old name for bf16-mixed).
PRECISIONS = (None, 32, "32", "32-true", "bf16", "bf16-mixed")
# Trainer arguments the stacked loop honours; every other one must keep its default value.
TRAINER_FREE = {
    "_target_",
    "max_epochs",
    "min_epochs",
    "check_val_every_n_epoch",
    "enable_progress_bar",
    "enable_model_summary",
    "num_sanity_val_steps",
    "default_root_dir",
    "deterministic",
    "benchmark",
    "inference_mode",
    "enable_checkpointing",
    "log_every_n_steps",
    "use_distributed_sampler",
    "enable_autolog_hparams",
    "gradient_clip_val",  # per member: clipping.py
    "gradient_clip_algorithm",
}
TRAINER_DEFAULTS = {
    "max_steps": -1,
    "min_steps": None,
    "max_time": None,
    "accumulate_grad_batches": 1,
    "val_check_interval": None,
    "limit_train_batches": None,
    "limit_val_batches": None,
    "limit_test_batches": None,
    "limit_predict_batches": None,
    "overfit_batches": 0.0,
    "fast_dev_run": False,
    "profiler": None,
    "detect_anomaly": False,
    "barebones": False,
    "plugins": None,
    "sync_batchnorm": False,
    "reload_dataloaders_every_n_epochs": 0,
    "model_registry": None,
}


def stackable_key(key: str) -> bool:
    """`optimizer.lr`, `seed`: a key whose value may differ inside a group."""
    return any(key == name or key.startswith(name + ".") for name in STACKABLE)


def group_key(cfg: DictConfig) -> str:
    """The job's config without the stackable keys and the Hydra node, as text: equal keys stack."""
    tree = OmegaConf.to_container(cfg, resolve=False)
    tree.pop("hydra", None)
    for key in STACKABLE:
        *parents, last = key.split(".")
        node = tree
        for parent in parents:
            node = node.get(parent) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return json.dumps(tree, sort_keys=True, default=str)


def unstackable(cfg: DictConfig) -> str | None:
    """Why the stacked loop cannot run this job as the single run would (None: it can). Reads no stackable key."""
    accelerator = cfg.accelerator
    strategy = accelerator.get("strategy", "auto")
    if (
        strategy != "auto"
        or str(accelerator.get("devices", 1)) not in ("1", "auto")
        or accelerator.get("num_nodes", 1) != 1
    ):
        return "distributed (DDP) jobs run one process group each"
    if cfg.model.get("_target_") not in MODELS:
        return f"model {cfg.model.get('_target_')} has no stacked network"
    if cfg.model.get("solver", "sgd") != "sgd":
        return f"model.solver={cfg.model.solver} is solved, not trained"
    if cfg.model.get("freeze"):
        return "model.freeze"
    for key in ("ckpt_path", "resume"):
        if cfg.get(key):
            return f"{key} (resuming a run)"
    if cfg.get("log_step_metrics"):
        return "log_step_metrics=true"
    trainer = cfg.trainer
    for key in trainer:
        if key in TRAINER_FREE:
            continue
        if key == "precision":
            reason = _precision(trainer.precision)
            if reason:
                return reason
        elif trainer.get(key) != TRAINER_DEFAULTS.get(key, object()):
            return f"trainer.{key}={trainer.get(key)}"
    if trainer.get("min_epochs") and any(
        c and c.get("_target_") == "lightning.pytorch.callbacks.EarlyStopping"
        for c in (cfg.get("callbacks") or {}).values()
    ):
        return "trainer.min_epochs with early stopping (the stop waits for it)"
    logger = cfg.get("logger")
    if logger and logger.get("_target_") not in LOGGERS:
        return f"logger {logger.get('_target_')}"
    if cfg.data.get("_target_") == "litlab.data.csv_file.CSVDataModule":  # Lightning saves it into checkpoints
        return "data=csv (its fitted preprocessing and target scaling live in the single run's checkpoints)"
    callbacks = cfg.get("callbacks") or {}
    checkpoints = [c for c in callbacks.values() if c and "Checkpoint" in str(c.get("_target_"))]
    if trainer.get("enable_checkpointing") is not False and not checkpoints:
        # Lightning's Trainer adds its default ModelCheckpoint; a member writes the checkpoints it is configured with
        return "callbacks.model_checkpoint=null with checkpointing on (the single run gets Lightning's default one)"
    for name, callback in callbacks.items():
        if not callback:
            continue
        target = callback.get("_target_")
        if target == "litlab.callbacks.live_plot.LivePlot":
            if _draws(callback.get("enabled", "auto")):  # the live plot draws each job's epochs as they come
                return f"callbacks.{name} draws in this notebook"
            continue
        if target not in CALLBACKS:
            return f"callbacks.{name} ({target}) does not act per member"
        allowed = CALLBACKS[target]
        extra = [k for k in callback if k != "_target_" and allowed is not None and k not in allowed]
        if extra:
            return f"callbacks.{name}.{extra[0]}"
    return None


def _precision(precision) -> str | None:
    """Why a job of this `trainer.precision` runs alone (None: it stacks, through Fabric's precision plugin)."""
    if precision in PRECISIONS:
        return None
    if str(precision) in ("16", "16-mixed"):
        return (
            f"trainer.precision={precision} scales the loss, and one loss scale for all members would skip every "
            "member's step when one overflows"
        )
    return f"trainer.precision={precision} (members stack in 32-true and bf16-mixed)"


def split(jobs: list, max_members: int) -> list[list]:
    """`jobs` in consecutive groups of at most `max_members`, as even in size as possible."""
    count = -(-len(jobs) // max_members)
    sizes = [len(jobs) // count + (i < len(jobs) % count) for i in range(count)]
    starts = [sum(sizes[:i]) for i in range(count)]
    return [jobs[start : start + size] for start, size in zip(starts, sizes)]


def _draws(enabled) -> bool:
    from litlab.callbacks.live_plot import in_notebook

    return in_notebook() if enabled == "auto" else bool(enabled)
