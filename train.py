"""Train a model chosen by config groups, e.g. `python train.py model=mlp optimizer=rmsprop`.

`python train.py --help` lists the groups and their options; `-m` sweeps (see docs/sweeps.md).
`python train.py resume=outputs/runs/DATE/TIME` resumes an interrupted run in its own folder.
"""

from omegaconf import DictConfig

from litlab.cli import bad_input_exits, entry_point


@entry_point("train")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from litlab.config.checks import check_run
    from litlab.startup import collector_paused

    with collector_paused():  # the checks import the data module's class, and with it torch and Lightning
        if HydraConfig.get().mode == RunMode.RUN:
            # A bad value fails before training starts (a sweep job: in build()). Caught here, not by
            # entry_point's wrapper: an error leaving the task makes Hydra print "Error executing job..." first.
            with bad_input_exits():
                check_run(cfg)
        from litlab.run import main as run  # imported here so that --help stays fast

    return run(cfg)


if __name__ == "__main__":
    main()
