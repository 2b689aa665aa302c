"""Keep docs/RESULTS.md up to date: each benchmark owns one marked section and rewrites only it."""
from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "RESULTS.md"
HEADER = "# Results\n\nEvery figure here was written by the command shown beside it; rerun it to refresh.\n"


def write_section(name: str, markdown: str, path: Path = RESULTS) -> None:
    """Replace (or append) the section between ``<!-- begin NAME -->`` and ``<!-- end NAME -->``."""
    text = path.read_text() if path.exists() else HEADER
    block = f"<!-- begin {name} -->\n{markdown.strip()}\n<!-- end {name} -->"
    pattern = re.compile(rf"<!-- begin {re.escape(name)} -->.*?<!-- end {re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def published(name: str, markdown: str, write: bool = True) -> None:
    """Print a table and, unless told not to (``--no-write``), write it as section ``name``."""
    print(markdown)
    if write:
        write_section(name, markdown)


def with_settings(name: str, title: str, settings: list[str]) -> tuple[str, str]:
    """A section's name and title for a run with other server settings (``NAME=VALUE`` each): the
    defaults own the plain section, each set of settings one of its own beside it."""
    return (name + "".join(f"-{kv.lower()}" for kv in settings), title + "".join(f", {kv}" for kv in settings))
