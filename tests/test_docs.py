"""The documentation site builds as `make docs` builds it: `mkdocs build --strict`, every warning an error.

A broken link between pages, a page missing from the nav's files or a docstring the API reference cannot read
fails here. The notebooks are converted as stored, not executed (tests/test_notebooks.py runs them).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml
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


# -- the config groups page against conf/ -----------------------------------------------------------------
GROUPS_PAGE = ROOT / "docs" / "config-groups.md"
CONF = ROOT / "conf"
# Options that come from Hydra and its plugins or from litlab's ConfigStore rather than from a file in conf/.
NOT_IN_CONF = {
    "hydra/launcher": {"basic", "joblib", "submitit_local", "stacked"},
    "hydra/job_logging": {"default", "disabled", "none", "stdout"},
    "hydra/hydra_logging": {"default", "disabled", "none", "hydra_debug"},
}


def option_tables(text: str) -> dict[str, list[str]]:
    """{group: [options, in the page's order]}: the first column of the table under each "## `group`" heading."""
    tables: dict[str, list[str]] = {}
    group = None
    for line in text.splitlines():
        heading = re.fullmatch(r"## `([\w/]+)`", line.strip())
        if heading:
            group = heading[1]
            tables[group] = []
        elif line.startswith("## "):
            group = None
        elif group and line.startswith("| `"):
            tables[group].append(re.match(r"\| `([\w.]+)`", line)[1])
    return tables


def conf_groups() -> dict[str, set[str]]:
    """{group: options} of conf/: every folder holding option files, `hydra/launcher` included."""
    return {
        str(folder.relative_to(CONF)): {f.stem for f in folder.glob("*.yaml")}
        for folder in sorted(CONF.rglob("*"))
        if folder.is_dir() and any(folder.glob("*.yaml"))
    }


def test_the_config_groups_page_lists_every_option_of_conf():
    tables = option_tables(GROUPS_PAGE.read_text())
    groups = conf_groups()
    assert set(tables) == set(groups), f"groups in conf/ and sections of {GROUPS_PAGE.name} differ"
    for group, options in groups.items():
        listed = tables[group]
        assert len(listed) == len(set(listed)), f"{group}: an option listed twice in {GROUPS_PAGE.name}"
        missing = options - set(listed)
        assert not missing, f"conf/{group}/ has {sorted(missing)}, missing from the table in {GROUPS_PAGE.name}"
        stale = set(listed) - options - NOT_IN_CONF.get(group, set())
        assert not stale, f"{GROUPS_PAGE.name} lists {sorted(stale)} under {group}, which conf/{group}/ lacks"


def test_the_first_option_of_each_table_is_the_default():
    defaults = {}
    for entry in yaml.safe_load((CONF / "train.yaml").read_text())["defaults"]:
        if isinstance(entry, dict):
            defaults.update({k.removeprefix("override "): v for k, v in entry.items() if v is not None})
    tables = option_tables(GROUPS_PAGE.read_text())
    assert defaults, "no group defaults read from conf/train.yaml"
    for group, default in defaults.items():
        assert tables[group][0] == default, f"{GROUPS_PAGE.name}: {group}'s default is {default}, listed first"


def test_the_option_tables_are_read_as_written():
    """The check above fails when an option is missing: a table without `csv` is caught."""
    text = GROUPS_PAGE.read_text().replace("| `csv` | your own table", "| csv | your own table")
    assert "csv" not in option_tables(text)["data"]
