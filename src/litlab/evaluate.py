"""Evaluate a saved checkpoint: rebuild its data and network from the config it carries, test, report.

`eval.py` calls `evaluate(cfg)`. The run is rebuilt from the checkpoint alone (litlab/restore.py).
`data=OPTION` swaps in another data set; a network that does not fit it is refused with the shapes of both.
"""

from omegaconf import DictConfig

from litlab.checkpoints import epochs_trained
from litlab.record import print_summary, write_metrics
from litlab.restore import quiet_trainer, restore
from litlab.run import setup_logging


def evaluate(cfg: DictConfig) -> dict:
    setup_logging()  # Lightning's lines once, through Hydra's handlers (console and eval.log)
    run = restore(cfg.ckpt_path, cfg.get("data"))
    trainer = quiet_trainer(cfg.accelerator)
    test = trainer.test if cfg.split == "test" else trainer.validate
    metrics = {k: float(v) for k, v in test(run.system, datamodule=run.datamodule, verbose=False)[0].items()}
    record = {
        "status": "evaluated",
        "epochs": epochs_trained(run.checkpoint),
        "checkpoint": str(cfg.ckpt_path),
        "split": cfg.split,
        "data": run.config.data._target_,
        **dict(sorted(metrics.items())),
    }
    write_metrics(cfg, record)
    print_summary(cfg, record)
    return record
