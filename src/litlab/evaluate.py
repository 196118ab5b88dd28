"""Evaluate a saved checkpoint: rebuild its data and network from the config it carries, test, report.

`eval.py` calls `evaluate(cfg)`. The training system saves the run's resolved config in every
checkpoint's hyperparameters, so nothing but the checkpoint is needed. `data=OPTION` swaps in another
data set; a network that does not fit it is refused with the shapes of both.
"""

import lightning as L
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from litlab.checkpoints import read_checkpoint
from litlab.errors import LitlabError
from litlab.run import _print_summary, _write_metrics, build_system


def evaluate(cfg: DictConfig) -> dict:
    checkpoint = read_checkpoint(cfg.ckpt_path)
    saved = checkpoint.get("hyper_parameters", {}).get("config")
    if not saved:
        raise LitlabError(f"ckpt_path={cfg.ckpt_path} has no litlab config in its hyperparameters: "
                          "it was not written by `python train.py`")
    run_cfg = OmegaConf.create(saved)
    run_cfg.init_from = None   # the weights come from this checkpoint, below, not from the run's starting point
    if cfg.get("data"):   # another data set: its ${seed} and ${paths.data_dir} resolve in the run's config
        run_cfg.data = OmegaConf.to_container(cfg.data, resolve=False)
    _check_task(cfg, run_cfg, saved)

    datamodule, system = build_system(run_cfg)
    try:
        system.load_state_dict(checkpoint["state_dict"])
    except RuntimeError:
        raise LitlabError(_shape_mismatch(cfg, checkpoint, datamodule)) from None

    trainer = L.Trainer(accelerator=cfg.accelerator, devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    run = trainer.test if cfg.split == "test" else trainer.validate
    metrics = {k: float(v) for k, v in run(system, datamodule=datamodule, verbose=False)[0].items()}
    record = {"status": "evaluated", "epochs": checkpoint.get("epoch", 0) + 1, "checkpoint": str(cfg.ckpt_path),
              "split": cfg.split, "data": run_cfg.data._target_, **dict(sorted(metrics.items()))}
    _write_metrics(cfg, record)
    _print_summary(cfg, record)
    return record


def _check_task(cfg: DictConfig, run_cfg: DictConfig, saved: dict) -> None:
    trained, chosen = get_class(saved["data"]["_target_"]).task, get_class(run_cfg.data._target_).task
    if trained != chosen:
        raise LitlabError(f"ckpt_path={cfg.ckpt_path} holds a {trained} model; the chosen data "
                          f"({run_cfg.data._target_.rsplit('.', 1)[-1]}) is a {chosen} set")


def _shape_mismatch(cfg: DictConfig, checkpoint: dict, datamodule) -> str:
    weights = [v for k, v in checkpoint["state_dict"].items() if k.startswith("network.") and v.ndim == 2]
    trained = f"{weights[0].shape[1]} features and {weights[-1].shape[0]} outputs" if weights else "other shapes"
    return (f"ckpt_path={cfg.ckpt_path} does not match the chosen data: its network takes {trained}; "
            f"{type(datamodule).__name__} has {datamodule.num_features} features and {datamodule.num_outputs} outputs")
