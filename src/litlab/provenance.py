"""`run.json` in each run folder: what is needed to rerun it besides the config Hydra saves in `.hydra/`.

The command line, the overrides, litlab's version and git commit (with a flag when the working tree
had uncommitted changes), and the versions of Python, torch, Lightning and Hydra. A resumed run adds
an entry under `resumed`.
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
