"""Typed schemas of the config groups, stored in Hydra's ConfigStore; the YAML options extend them.

Each option file starts with its schema in its defaults list, e.g. `conf/optimizer/sgd.yaml`:

    defaults:
      - /schema_optimizer_sgd@_here_
      - _self_

so `optimizer.lrr=0.1` (no such key) and `optimizer.lr=fast` (not a float) are refused while the
config is composed, and `check_config` (checks.py) refuses values outside each field's rule.
To add an option: reuse the schema of its family (`scratch_sgd.yaml` extends `schema_optimizer_sgd`),
or write a dataclass below that subclasses the group's base, and add it to `SCHEMAS`.
Schemas are stored under top-level names, not in a group, so `--help` lists only the real options.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from litlab.config.checks import Each, OneOf, Range, checked
from litlab.run_dir import register_resolver

POSITIVE = Range(0, open_low=True)
NON_NEGATIVE = Range(0)
AT_LEAST_ONE = Range(1)
PROBABILITY = Range(0, 1, open_high=True)  # dropout rates, betas, decay rates in [0, 1)

ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu")  # litlab.models.mlp.ACTIVATIONS
INITS = ("default", "normal", "xavier", "kaiming")  # litlab.models.init.INITS
IMPLS = ("torch", "scratch")  # model.impl, regularization.impl (litlab.models.scratch)
SOLVERS = ("sgd", "closed_form")  # litlab.models.linreg.SOLVERS: model.solver
NORMALIZE = ("standard", "minmax", "none")


# -- data -------------------------------------------------------------------------------------------
@dataclass
class DataConf:
    _target_: str = MISSING
    data_dir: str = "data"
    batch_size: int = checked(256, AT_LEAST_ONE)
    seed: int = 42
    normalize: str = checked("standard", OneOf(NORMALIZE))
    drop_last: bool = False


@dataclass
class FashionMNISTConf(DataConf):
    val_size: int = checked(5000, Range(1, 59_999))  # carved out of the 60,000 training images
    download: bool = True
    system_dir: str = "/usr/share/datasets/fashion-mnist"


@dataclass
class SplitDataConf(DataConf):
    """A data set split into train / val / test parts of the given sizes (Iris, digits, synthetic)."""

    sizes: list[int] = checked([120, 15, 15], Each(AT_LEAST_ONE))
    baseline: bool = True  # also fit scikit-learn's linear model on the training rows: baseline/* (litlab/baseline.py)


@dataclass
class SyntheticLinearConf(SplitDataConf):
    w: list[float] = field(default_factory=lambda: [2.0, -3.4])
    b: float = 4.2
    noise: float = checked(0.01, NON_NEGATIVE)


@dataclass
class PolynomialConf(SplitDataConf):
    num_features: int = checked(4, AT_LEAST_ONE)  # the first k of the max_degree features x^i / i!
    max_degree: int = checked(20, AT_LEAST_ONE)
    noise: float = checked(0.1, NON_NEGATIVE)


@dataclass
class HighDimLinearConf(SplitDataConf):
    num_inputs: int = checked(200, AT_LEAST_ONE)
    w_value: float = 0.01  # every true weight
    b: float = 0.05
    noise: float = checked(0.01, NON_NEGATIVE)


@dataclass
class CSVConf(DataConf):
    path: str | None = None
    target: str | None = None
    features: list[str] | None = None  # null: every column but the target
    categorical: list[str] = field(default_factory=list)  # numeric columns one-hot encoded too (text ones always are)
    id_column: str | None = None  # names the rows: not a feature; predict.py writes it beside each prediction
    task: str = checked("classification", OneOf(("classification", "regression")))
    log_target: bool = False  # regression: train on log(1 + y) (d2l 5.7's house prices)
    split: list[float] = checked([0.8, 0.1, 0.1], Each(Range(0, 1, open_low=True)))
    folds: int = checked(1, AT_LEAST_ONE)  # k-fold: validate on fold `fold` of the non-test rows (1: data.split)
    fold: int = checked(0, NON_NEGATIVE)
    baseline: bool = True  # also fit scikit-learn's linear model on the training rows: baseline/* (litlab/baseline.py)


# -- model ------------------------------------------------------------------------------------------
@dataclass
class ModelConf:
    _target_: str = MISSING
    init: str = checked("default", OneOf(INITS))
    init_std: float = checked(0.01, POSITIVE)
    freeze: list[str] = field(default_factory=list)  # parameters or layers kept fixed (litlab/finetune.py)


@dataclass
class MLPConf(ModelConf):
    hidden: list[int] = checked([256], Each(AT_LEAST_ONE))
    activation: str = checked("relu", OneOf(ACTIVATIONS))
    dropout: Any = checked(0.0, Each(PROBABILITY))  # one rate, or a list with one per hidden layer
    impl: str = checked("torch", OneOf(IMPLS))


@dataclass
class SoftmaxConf(ModelConf):
    impl: str = checked("torch", OneOf(IMPLS))


@dataclass
class LinearRegressionConf(ModelConf):
    bias: bool = True
    solver: str = checked("sgd", OneOf(SOLVERS))


# -- optimizer: one schema per torch.optim family -----------------------------------------------------
@dataclass
class OptimizerConf:
    _target_: str = MISSING
    _partial_: bool = True  # the system calls it with the parameter groups
    lr: float = checked(MISSING, POSITIVE)


@dataclass
class SGDConf(OptimizerConf):
    momentum: float = checked(0.0, NON_NEGATIVE)
    dampening: float = checked(0.0, NON_NEGATIVE)
    nesterov: bool = False


@dataclass
class AdagradConf(OptimizerConf):
    lr_decay: float = checked(0.0, NON_NEGATIVE)
    initial_accumulator_value: float = checked(0.0, NON_NEGATIVE)
    eps: float = checked(1e-10, POSITIVE)


@dataclass
class AdadeltaConf(OptimizerConf):
    rho: float = checked(0.9, Range(0, 1))
    eps: float = checked(1e-6, POSITIVE)


@dataclass
class RMSpropConf(OptimizerConf):
    alpha: float = checked(0.99, Range(0, 1))
    eps: float = checked(1e-8, POSITIVE)
    momentum: float = checked(0.0, NON_NEGATIVE)
    centered: bool = False


@dataclass
class AdamConf(OptimizerConf):  # Adam and AdamW
    betas: list[float] = checked([0.9, 0.999], Each(PROBABILITY))
    eps: float = checked(1e-8, POSITIVE)
    amsgrad: bool = False


# -- regularization, scheduler ------------------------------------------------------------------------
@dataclass
class RegularizationConf:
    l1: float = checked(0.0, NON_NEGATIVE)  # lambda of lambda * sum |w| added to the loss
    l2: float = checked(0.0, NON_NEGATIVE)  # weight decay on weights (biases are never decayed)
    impl: str = checked("torch", OneOf(IMPLS))  # scratch: (l2 / 2) * ||w||^2 in the loss instead


@dataclass
class SchedulerConf:
    _target_: str = MISSING
    _partial_: bool = True


@dataclass
class StepLRConf(SchedulerConf):
    step_size: int = checked(5, AT_LEAST_ONE)
    gamma: float = checked(0.5, POSITIVE)


@dataclass
class ExponentialLRConf(SchedulerConf):
    gamma: float = checked(0.9, POSITIVE)


@dataclass
class CosineLRConf(SchedulerConf):
    T_max: int = checked(MISSING, AT_LEAST_ONE)
    eta_min: float = checked(0.0, NON_NEGATIVE)


@dataclass
class PlateauConf(SchedulerConf):
    mode: str = checked("min", OneOf(("min", "max")))
    factor: float = checked(0.5, Range(0, 1, open_low=True, open_high=True))
    patience: int = checked(2, NON_NEGATIVE)


# -- where and how it runs ------------------------------------------------------------------------------
@dataclass
class AcceleratorConf:
    accelerator: str = "auto"  # `accelerator=gpu` without a GPU is refused before training (run.py)
    devices: Any = 1  # a count, a list of device ids, or "auto"
    strategy: Any = "auto"  # a Lightning strategy name (ddp) or a `_target_` node (accelerator=ddp_spawn)
    num_nodes: int = checked(1, AT_LEAST_ONE)


@dataclass
class LoggerConf:
    _target_: str = MISSING
    save_dir: str = MISSING
    name: str = MISSING
    version: Any = ""


@dataclass
class TensorBoardConf(LoggerConf):
    default_hp_metric: bool = False
    # seconds between writes of the scalars to the event file (litlab/loggers/tensorboard.py)
    flush_interval: float = checked(10.0, Range(0))


@dataclass
class MLFlowConf:
    _target_: str = MISSING
    tracking_uri: str = "sqlite:///outputs/mlflow.db"
    experiment_name: str | None = None  # null: the sweep folder for a sweep's jobs, `runs` for a single run
    run_name: str | None = None  # null: the run folder
    artifact_location: str | None = None
    log_model: Any = False  # true, false or "all": checkpoints as MLflow artifacts


@dataclass
class LivePlotConf:
    _target_: str = "litlab.callbacks.live_plot.LivePlot"
    enabled: Any = checked("auto", OneOf(("auto", True, False)))  # auto: inside a Jupyter kernel only


@dataclass
class PathsConf:
    data_dir: str = "data"
    output_dir: str = MISSING


@dataclass
class TrainerConf:
    """Every lightning.Trainer argument except those the accelerator, logger and callbacks groups set."""

    _target_: str = "lightning.Trainer"
    max_epochs: int | None = checked(10, AT_LEAST_ONE)
    min_epochs: int | None = checked(None, NON_NEGATIVE)
    max_steps: int = -1
    min_steps: int | None = None
    max_time: Any = None  # "DD:HH:MM:SS" or {days: .., hours: ..}
    precision: Any = None  # 32-true, 16-mixed, bf16-mixed, 64
    gradient_clip_val: float | None = checked(None, NON_NEGATIVE)
    gradient_clip_algorithm: str | None = checked(None, OneOf(("norm", "value")))
    accumulate_grad_batches: int = checked(1, AT_LEAST_ONE)
    check_val_every_n_epoch: int | None = checked(1, AT_LEAST_ONE)
    val_check_interval: Any = None  # a fraction of an epoch, or a number of batches
    limit_train_batches: Any = checked(None, Range(0))  # a fraction, or a number of batches
    limit_val_batches: Any = checked(None, Range(0))
    limit_test_batches: Any = checked(None, Range(0))
    limit_predict_batches: Any = checked(None, Range(0))
    overfit_batches: Any = 0.0
    fast_dev_run: Any = False
    num_sanity_val_steps: int | None = None
    log_every_n_steps: int | None = checked(None, AT_LEAST_ONE)
    enable_checkpointing: bool | None = None
    enable_progress_bar: bool | None = None
    enable_model_summary: bool | None = None
    deterministic: Any = None  # true, false or "warn"
    benchmark: bool | None = None
    inference_mode: bool = True
    use_distributed_sampler: bool = False
    profiler: str | None = None
    detect_anomaly: bool = False
    barebones: bool = False
    plugins: Any = None
    sync_batchnorm: bool = False
    reload_dataloaders_every_n_epochs: int = checked(0, NON_NEGATIVE)
    default_root_dir: str | None = None
    enable_autolog_hparams: bool = True
    model_registry: str | None = None


@dataclass
class TrainConf:
    """conf/train.yaml: one option per group, then the run's own keys."""

    data: Any = MISSING
    model: Any = MISSING
    optimizer: Any = MISSING
    regularization: Any = MISSING
    scheduler: Any = field(default_factory=dict)  # scheduler=none: a constant learning rate
    accelerator: Any = MISSING
    logger: Any = field(default_factory=dict)  # logger=none
    callbacks: Any = field(default_factory=dict)  # Lightning callbacks by name; `callbacks.X=null` drops one
    seed: int = 42
    ckpt_path: str | None = None  # a checkpoint to resume training from
    resume: str | None = None  # a run folder to resume: its checkpoints/last.ckpt, logging into it
    init_from: str | None = None  # a checkpoint whose network weights start a new run (fine-tuning)
    optimized_metric: str | None = "val/loss"
    log_step_metrics: bool = False  # also log train/loss_step, train/acc_step (see docs/performance.md)
    paths: PathsConf = field(default_factory=PathsConf)
    trainer: TrainerConf = field(default_factory=TrainerConf)


@dataclass
class EvalPathsConf:
    output_dir: str = MISSING


@dataclass
class EvalConf:
    """conf/eval.yaml: evaluate a checkpoint on a split of the data it was trained on (or of `data=OPTION`)."""

    data: Any = None
    ckpt_path: str = MISSING
    split: str = checked("test", OneOf(("test", "val")))
    accelerator: str = "auto"
    paths: EvalPathsConf = field(default_factory=EvalPathsConf)


@dataclass
class PredictDataConf:
    path: str | None = None  # a CSV file of rows with the training columns; None: the run's test split


@dataclass
class PredictConf:
    """conf/predict.yaml: predict with a checkpoint, for new rows of a table or its run's test split."""

    ckpt_path: str = MISSING
    data: PredictDataConf = field(default_factory=PredictDataConf)
    accelerator: str = "auto"
    paths: EvalPathsConf = field(default_factory=EvalPathsConf)


# Top-level name in the ConfigStore -> schema. The YAML file that extends it names it in its defaults.
SCHEMAS = {
    "schema_train": TrainConf,
    "schema_eval": EvalConf,
    "schema_predict": PredictConf,
    "schema_data_fashion_mnist": FashionMNISTConf,
    "schema_data_split": SplitDataConf,
    "schema_data_synthetic_linear": SyntheticLinearConf,
    "schema_data_polynomial": PolynomialConf,
    "schema_data_high_dim_linear": HighDimLinearConf,
    "schema_data_csv": CSVConf,
    "schema_model_mlp": MLPConf,
    "schema_model_softmax": SoftmaxConf,
    "schema_model_linreg": LinearRegressionConf,
    "schema_optimizer_sgd": SGDConf,
    "schema_optimizer_adagrad": AdagradConf,
    "schema_optimizer_adadelta": AdadeltaConf,
    "schema_optimizer_rmsprop": RMSpropConf,
    "schema_optimizer_adam": AdamConf,
    "schema_regularization": RegularizationConf,
    "schema_scheduler_step": StepLRConf,
    "schema_scheduler_exponential": ExponentialLRConf,
    "schema_scheduler_cosine": CosineLRConf,
    "schema_scheduler_plateau": PlateauConf,
    "schema_accelerator": AcceleratorConf,
    "schema_logger_tensorboard": TensorBoardConf,
    "schema_logger_csv": LoggerConf,
    "schema_logger_mlflow": MLFlowConf,
    "schema_callback_live_plot": LivePlotConf,
}


def register_schemas() -> None:
    """Store every schema in Hydra's ConfigStore; call before composing (train.py, eval.py, the tests).

    Also registers the `unique_dir` resolver that conf/ uses for run and sweep folders (litlab/run_dir.py).
    """
    register_resolver()
    store = ConfigStore.instance()
    for name, schema in SCHEMAS.items():
        store.store(name=name, node=schema)
