"""A run of train.py's config under a bare Lightning `Trainer`: what Lightning alone costs for the same run.

    python scripts/bare_trainer.py experiment=polynomial_overfit

The same data module and system as `python train.py ARGS` (conf/train.yaml composed with these overrides,
built by `litlab.run.build_system`), fitted and tested by a `Trainer` with nothing around it: no logger,
no callbacks, no checkpoints, no progress bar, no model summary, no sanity check. It keeps the run's
epochs and validation interval. `scripts/bench.py --small-run` times it beside train.py and a
hand-written script of the same run: train.py minus this is what litlab adds to Lightning.
"""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What every bare Trainer gets, here and in bench.py's in-process comparison.
BARE = {
    "logger": False,
    "callbacks": [],
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "num_sanity_val_steps": 0,
}


def compose(overrides: list[str]):
    """conf/train.yaml with these overrides, as `python train.py` composes it (run folder: a temporary one)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from litlab.config.schema import register_schemas

    register_schemas()  # the typed schemas conf/*.yaml extend, as train.py registers them
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # what @hydra.main does before calling the run
    with open_dict(cfg):
        del cfg.hydra
    return cfg


def bare_trainer(cfg, **kwargs):
    """A Trainer with the run's epochs, validation interval and devices, and nothing else."""
    import lightning as L

    return L.Trainer(
        max_epochs=cfg.trainer.max_epochs,
        check_val_every_n_epoch=cfg.trainer.check_val_every_n_epoch,
        default_root_dir=cfg.paths.output_dir,
        **{k: v for k, v in cfg.accelerator.items() if k in ("accelerator", "devices")},
        **{**BARE, **kwargs},
    )


def main(argv: list[str]) -> dict:
    from litlab.run import build_system

    with tempfile.TemporaryDirectory(prefix="litlab-bare-") as out:
        cfg = compose([*argv, f"paths.output_dir={out}"])
        datamodule, system = build_system(cfg)
        trainer = bare_trainer(cfg)
        trainer.fit(system, datamodule=datamodule)
        tested = trainer.test(system, datamodule=datamodule, verbose=False)[0]
    result = {k: float(v) for k, v in tested.items()}
    print(result)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
