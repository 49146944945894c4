"""Every relative link in README.md and docs/ resolves: to a file that exists, and, with an
anchor, to a heading of that file (GitHub's anchors: lower case, punctuation dropped, spaces to
hyphens). External links (http, https, mailto) are not followed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# [text](target) and ![alt](target), the target up to a space (a title) or the closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"```.*?```", re.DOTALL)


def anchor(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    headings = re.findall(r"(?m)^#{1,6} (.+)$", FENCE.sub("", page.read_text()))
    return {anchor(heading) for heading in headings}


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(FENCE.sub("", page.read_text())):
        if re.match(r"(https?|mailto):", target):
            continue
        path, _, fragment = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"{target}: no heading #{fragment} in {_shown(resolved)}")
    return broken


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else path.name


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(REPO)) for page in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_the_readme_links_every_page_of_docs() -> None:
    readme = (REPO / "README.md").read_text()
    unlinked = [page.name for page in PAGES[1:] if f"(docs/{page.name})" not in readme]
    assert unlinked == []


def test_a_broken_link_or_anchor_is_found(tmp_path: Path) -> None:
    """The checker is not blind."""
    (tmp_path / "other.md").write_text("# A heading, with punctuation!\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md) [ok](other.md#a-heading-with-punctuation) [web](https://example.com/x)\n"
        "[gone](missing.md) [bad anchor](other.md#nowhere) ![img](missing.png)\n"
        "```\n[in a fence](not-checked.md)\n```\n"
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#nowhere: no heading #nowhere in other.md",
        "missing.png: no such file",
    ]
