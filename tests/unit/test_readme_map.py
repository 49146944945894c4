"""The README's "Where things are" map names files and functions that exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PRODUCTION = (
    "actors",
    "api",
    "pipeline",
    "publishing",
    "service",
    "schema",
    "webhooks",
    "config.py",
    "models.py",
)


def _map_section() -> str:
    readme = (REPO / "README.md").read_text()
    start = readme.index("## Where things are")
    return readme[start : readme.index("\n## ", start + 1)]


def _definitions() -> set[str]:
    names: set[str] = set()
    for root in PRODUCTION:
        for path in [REPO / root] if root.endswith(".py") else (REPO / root).rglob("*.py"):
            names.update(re.findall(r"^\s*(?:def|class)\s+(\w+)", path.read_text(), re.MULTILINE))
    return names


def test_every_file_the_map_names_exists() -> None:
    paths = re.findall(r"`([\w/]+\.(?:py|sql))`", _map_section())
    assert len(paths) > 10
    missing = [path for path in paths if not (REPO / path).is_file()]
    assert missing == []


def test_every_function_and_class_the_map_names_is_defined() -> None:
    """`Class.method`, `module.function` and `name`: the last name is defined in the code."""
    named = re.findall(r"`(?:\w+\.)?([A-Za-z_]\w*)(?:\(\w*\)\.\w+)?`", _map_section())
    assert {"PhotoWorker", "handle", "send_all", "mark_failed", "classify"} <= set(named)
    defined = _definitions()
    undefined = sorted({name for name in named if name not in defined} - _NOT_CODE - {"py", "sql"})
    assert undefined == []


# Backticked words of the map that are not ours to define: statuses, tables, Dramatiq's names.
_NOT_CODE = {
    "completed",
    "failed",
    "processing",
    "photo_thumbnails",
    "photo_facts",
    "queued_at",
    "Retries",
    "send",
}
