"""One folder per run: `${unique_dir:outputs/runs/DATE/TIME}` claims its folder when Hydra first resolves it.

Hydra names run and sweep folders after the clock, so two runs started in the same second would share
`outputs/runs/DATE/TIME/` and overwrite each other's config, log and metrics (Hydra cannot make that
atomic). This resolver creates the folder itself with `os.mkdir`, which fails when the name exists; then
it tries `TIME_1`, `TIME_2`, ... until one is free, and returns the name it got. `conf/train.yaml` and
`conf/eval.yaml` wrap `hydra.run.dir` and `hydra.sweep.dir` in it. A folder you name yourself
(`hydra.run.dir=outputs/pretrained`, `resume=RUN_DIR`) is used as it is, never renamed.

Hydra resolves the folder more than once per run: its value is cached on the config, and Hydra copies
that cache into each sweep job's config, but not into the copies `HydraConfig.get()` reads (Lightning's
`ddp` reads `HydraConfig.get().run.dir` to start rank 1). Those resolutions must not claim a second
folder: a run whose `hydra.runtime.output_dir` is already a claim of this name (or a job folder inside
one) gets that claim back.
"""

import os
import re
from pathlib import Path

from omegaconf import OmegaConf

RESOLVER = "unique_dir"


def register_resolver() -> None:
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, unique_dir, use_cache=True)


def unique_dir(name: str) -> str:
    """`name` or `name_N` with the smallest free N, created now; or the claim this run already holds."""
    held = _claim_held(name)
    if held:
        return held
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    for n in range(10_000):
        candidate = path if n == 0 else path.with_name(f"{path.name}_{n}")
        try:
            candidate.mkdir()  # atomic: exactly one of several processes creates a given name
        except FileExistsError:
            continue
        return str(candidate)
    raise FileExistsError(f"{name}: no free folder name among {path.name}_1 ... {path.name}_9999")


def _claim_held(name: str) -> str | None:
    """The folder of `name` that the running job's output_dir already is (or lies inside), if any."""
    from hydra.core.hydra_config import HydraConfig

    runtime = HydraConfig.instance().cfg.hydra.runtime if HydraConfig.initialized() else None
    output_dir = OmegaConf.select(runtime, "output_dir", default=None) if runtime is not None else None
    if not output_dir:  # not set yet: this is the job's first resolution
        return None
    wanted = Path(name).absolute()
    claim = re.compile(re.escape(wanted.name) + r"(_\d+)?")
    for folder in (Path(output_dir), *Path(output_dir).parents):
        if folder.parent == wanted.parent and claim.fullmatch(folder.name):
            return str(folder if Path(name).is_absolute() else Path(os.path.relpath(folder)))
    return None
