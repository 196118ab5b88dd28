"""Train a model chosen by config groups, e.g. `python train.py model=mlp optimizer=rmsprop`.

`python train.py --help` lists the groups and their options; `-m` sweeps (see README.md).
"""

import hydra
from omegaconf import DictConfig


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    from litlab.run import main as run   # imported here so that --help and config errors stay fast

    return run(cfg)


if __name__ == "__main__":
    main()
