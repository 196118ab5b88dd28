"""`run.json` in each run folder: what is needed to rerun it besides the config Hydra saves in `.hydra/`.

The command line, the overrides, litlab's version and git commit (with a flag when the working tree
had uncommitted changes), and the versions of Python, torch, Lightning and Hydra. A resumed run adds
an entry under `resumed`, with the overrides given to the resume (`resumed_overrides`).
"""

import functools
import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import litlab


def write_run_info(output_dir: str | Path, overrides: list[str]) -> Path:
    path = Path(output_dir) / "run.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    session = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "overrides": overrides,
    }
    if path.exists():  # a resumed run keeps its first record and adds this session
        info = json.loads(path.read_text())
        info.setdefault("resumed", []).append(session)
    else:
        info = {
            **session,
            "litlab": litlab.__version__,
            **_git(),
            "python": platform.python_version(),
            **{name: _version(name) for name in ("torch", "lightning", "hydra-core")},
        }
    path.write_text(json.dumps(info, indent=2) + "\n")
    return path


def resumed_overrides(output_dir: str | Path, overrides: list[str]) -> list[str]:
    """A resumed run: its folder's `.hydra/overrides.yaml` set back to the overrides that made the folder;
    returns the resume's own overrides (`resume=...` and those typed with it).

    Hydra writes the resumed run's whole command line there (the folder's overrides and the new ones, see
    litlab.cli.resume_arguments). Keys given to a resume belong to the resume, not to the run: a sweep's
    report keeps reading the job's sweep settings, and run.json's `resumed` entries record the rest;
    `.hydra/config.yaml` is the config the resumed run used.
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    path = Path(output_dir) / "run.json"
    first = json.loads(path.read_text()).get("overrides") if path.exists() else None
    if first is None:  # a folder without run.json: nothing says what made it
        return overrides
    subdir = HydraConfig.get().output_subdir if HydraConfig.initialized() else ".hydra"
    if subdir:
        OmegaConf.save(OmegaConf.create(list(first)), Path(output_dir) / subdir / "overrides.yaml")
    return [override for override in overrides if override not in first]


@functools.cache  # once a process: a sweep of hundreds of jobs asks git once, not twice a job
def _git() -> dict:
    """The commit of the checkout litlab runs from, when it is a git checkout."""
    source = Path(litlab.__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=source,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None}
    return {"git_commit": commit, "git_dirty": bool(dirty)}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
