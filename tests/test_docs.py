"""The documentation site builds as `make docs` builds it: `mkdocs build --strict`, every warning an error.

A broken link between pages, a page missing from the nav's files or a docstring the API reference cannot read
fails here. The notebooks are converted as stored, not executed (tests/test_notebooks.py runs them).
"""

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_the_site_builds_strictly(tmp_path):
    mkdocs = Path(sys.executable).with_name("mkdocs")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for page in ("index.html", "config-groups/index.html", "api/index.html", "notebooks/04_weight_decay/index.html"):
        assert (tmp_path / "site" / page).exists(), page
    assert "litlab.api.train" in (tmp_path / "site" / "api" / "index.html").read_text()
