"""A trained run rebuilt from one checkpoint: its config, its data (with the fitted preprocessing), its weights.

The training system saves the run's resolved config in every checkpoint's hyperparameters, and Lightning
saves the data module's state (a table's preprocessing) beside the weights, so nothing but the checkpoint
is needed. `eval.py` and `predict.py` start here.
"""

from dataclasses import dataclass

import lightning as L
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from litlab.checkpoints import read_checkpoint
from litlab.errors import LitlabError


@dataclass
class Restored:
    checkpoint: dict
    config: DictConfig  # the run's config (with `data` replaced when another data set was chosen)
    datamodule: L.LightningDataModule
    system: L.LightningModule  # with the checkpoint's weights


def restore(ckpt_path: str, data: DictConfig | None = None) -> Restored:
    """Rebuild the run of `ckpt_path`; `data` (a data config) swaps in another data set."""
    from litlab.run import build_system

    checkpoint = read_checkpoint(ckpt_path)
    saved = checkpoint.get("hyper_parameters", {}).get("config")
    if not saved:
        raise LitlabError(
            f"ckpt_path={ckpt_path} has no litlab config in its hyperparameters: "
            "it was not written by `python train.py`"
        )
    run_cfg = OmegaConf.create(saved)
    run_cfg.init_from = None  # the weights come from this checkpoint, below, not from the run's starting point
    if data:  # another data set: its ${seed} and ${paths.data_dir} resolve in the run's config
        run_cfg.data = OmegaConf.to_container(data, resolve=False)
    _check_task(ckpt_path, run_cfg, saved)

    datamodule, system = build_system(run_cfg, checkpoint)
    try:
        system.load_state_dict(checkpoint["state_dict"])
    except RuntimeError:
        raise LitlabError(_shape_mismatch(ckpt_path, checkpoint, datamodule)) from None
    return Restored(checkpoint, run_cfg, datamodule, system)


def quiet_trainer(accelerator: str) -> L.Trainer:
    """A Trainer on one device that only runs the restored system: no logger, checkpoints, bar or summary."""
    return L.Trainer(
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def _check_task(ckpt_path: str, run_cfg: DictConfig, saved: dict) -> None:
    trained, chosen = get_class(saved["data"]["_target_"]).task, get_class(run_cfg.data._target_).task
    if trained != chosen:
        raise LitlabError(
            f"ckpt_path={ckpt_path} holds a {trained} model; the chosen data "
            f"({run_cfg.data._target_.rsplit('.', 1)[-1]}) is a {chosen} set"
        )


def _shape_mismatch(ckpt_path: str, checkpoint: dict, datamodule) -> str:
    weights = [v for k, v in checkpoint["state_dict"].items() if k.startswith("network.") and v.ndim == 2]
    trained = f"{weights[0].shape[1]} features and {weights[-1].shape[0]} outputs" if weights else "other shapes"
    return (
        f"ckpt_path={ckpt_path} does not match the chosen data: its network takes {trained}; "
        f"{type(datamodule).__name__} has {datamodule.num_features} features and {datamodule.num_outputs} outputs"
    )
