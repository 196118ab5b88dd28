"""Predict with a saved checkpoint: new rows of a table, or the test split of the run's own data.

`predict.py` calls `predict(cfg)`. The run is rebuilt from the checkpoint alone (litlab/restore.py), with
the preprocessing fitted on its training rows, so a file of new rows is transformed exactly as the
training rows were; a file whose columns differ from the training columns is refused. Predictions come
from the system's `predict_step` through `Trainer.predict` and are written to `predictions.csv`: the
rows' index (or `data.id_column`), `predicted` (a class name or a number in the target's units) and, for
classifiers, one probability column per class. Rows with the target column are also scored.
"""

import logging
from pathlib import Path

import torch
from omegaconf import DictConfig

from litlab.errors import LitlabError
from litlab.restore import quiet_trainer, restore


def predict(cfg: DictConfig) -> Path:
    """Write predictions.csv into `paths.output_dir`; return its path."""
    logging.getLogger("lightning").handlers.clear()  # Hydra's handlers print Lightning's lines already
    run = restore(cfg.ckpt_path)
    datamodule, system = run.datamodule, run.system
    split, labelled = "test", True
    if cfg.data.path:
        if not hasattr(datamodule, "add_rows"):
            raise LitlabError(
                f"data.path={cfg.data.path}: ckpt_path={cfg.ckpt_path} was trained on "
                f"{type(datamodule).__name__}, not on a CSV table; leave data.path out to predict its "
                "test split"
            )
        split, labelled = "predict", datamodule.add_rows(cfg.data.path)
    datamodule.predict_split = split

    trainer = quiet_trainer(cfg.accelerator)
    predictions = torch.cat(trainer.predict(system, datamodule=datamodule)).cpu()

    path = Path(cfg.paths.output_dir) / "predictions.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    prediction_table(datamodule, split, predictions).to_csv(path, index=False)
    rows = cfg.data.path or f"the test split of {type(datamodule).__name__}"
    if labelled:
        scores = system.make_scores()(predictions, system.to_units(datamodule.splits[split][1]).cpu())
        print(
            f"score on {len(predictions)} rows of {rows}: "
            + ", ".join(f"{name} {value.item():.4g}" for name, value in scores.items())
        )
    print(f"predictions for {len(predictions)} rows of {rows}: {path}")
    return path


def prediction_table(datamodule, split: str, predictions: torch.Tensor):
    """One row per input row: its id, the prediction and, for classes, each class's probability."""
    import pandas as pd

    id_name, ids = datamodule.row_ids(split)
    table = pd.DataFrame({id_name: ids})
    if datamodule.task == "regression":
        table["predicted"] = predictions.numpy()
        return table
    names = datamodule.class_names or [str(i) for i in range(predictions.shape[1])]
    table["predicted"] = [names[i] for i in predictions.argmax(dim=1).tolist()]
    for i, name in enumerate(names):
        table[f"prob_{name}"] = predictions[:, i].numpy()
    return table
