"""The documentation a user reads, in reading order: README.md, then the pages of mkdocs.yml's nav.

tests/test_readme.py runs the shell commands of these files and tests/test_api.py their Python blocks,
so a command or example added to any page is tested without anyone writing a test.
"""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MKDOCS = ROOT / "mkdocs.yml"


def nav_pages() -> list[Path]:
    """The Markdown pages of the site's navigation, in its order (notebooks are run by test_notebooks.py)."""
    config = yaml.safe_load(MKDOCS.read_text())
    docs = ROOT / config.get("docs_dir", "docs")
    pages: list[Path] = []

    def walk(entry) -> None:
        if isinstance(entry, str):
            if entry.endswith(".md"):
                pages.append(docs / entry)
        elif isinstance(entry, dict):
            for value in entry.values():
                walk(value)
        elif isinstance(entry, list):
            for item in entry:
                walk(item)

    walk(config["nav"])
    return pages


def documentation() -> list[Path]:
    """README.md first, then the site's pages."""
    return [ROOT / "README.md", *nav_pages()]
