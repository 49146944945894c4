"""Small files that decode huge: the thumbnail call's peak memory stays within the decode budget.

Each case runs `make_thumbnail` in a fresh Python process (harness/thumbnail_peak.py) and reads
how far its peak RSS rose during the call: memory is a fact of the code, the same on a loaded
machine. Every input accepted stays within MAX_DECODE_MB (256 by default) and within what the
decode budget estimated from its header; what would need more is refused before decoding.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import bombs
from harness.thumbnail_peak import measure
from pipeline.decode_budget import MB

BUDGET_MB = 256
# A refused image is never decoded: its call takes no more than opening a header does.
NOTHING_DECODED_MB = 8


@pytest.fixture(scope="session")
def bomb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bombs")


@pytest.fixture(scope="session")
def at_the_budget(bomb_dir: Path) -> tuple[Path, Path]:
    """The costliest TIFF accepted at the default budget, and the same one row taller."""
    accepted, refused = bombs.at_the_budget(BUDGET_MB)
    (bomb_dir / "accepted.tif").write_bytes(accepted)
    (bomb_dir / "refused.tif").write_bytes(refused)
    return bomb_dir / "accepted.tif", bomb_dir / "refused.tif"


@pytest.mark.parametrize("name", list(bombs.BOMBS))
def test_each_decode_bomb_stays_within_the_budget_and_its_estimate(name: str, bomb_dir: Path) -> None:
    """Completed ones within 256 MB and their estimate; refused ones (the 100 MP RGB TIFF needs
    400 MB for its pixels alone) before any decoding."""
    bomb = bombs.BOMBS[name]
    path = bombs.write(name, bomb_dir)
    assert path.stat().st_size < 1_000_000, "a bomb is a small file"

    report = measure(path)

    assert report["rise_mb"] <= BUDGET_MB, report
    assert report["rise_mb"] <= report["estimate_mb"], report
    if bomb.outcome == "completed":
        assert report["code"] is None, report
        assert tuple(report["size"]) == bomb.upright
    else:
        assert report["code"] == bomb.outcome, report
        assert report["estimate_mb"] > BUDGET_MB
        assert report["rise_mb"] < NOTHING_DECODED_MB, report


def test_a_tiff_tagged_orientation_6_is_turned_as_a_thumbnail_not_at_full_size(bomb_dir: Path) -> None:
    """Given the budget its pixels need, the 100 MP TIFF comes out upright (portrait) for the
    memory of its decoded pixels: turning it at full size, as Pillow's loader does, took 763 MB."""
    path = bombs.write("tiff-100mp-rgb-orientation-6.tif", bomb_dir)

    report = measure(path, max_decode_mb=450)

    assert report["code"] is None, report
    assert tuple(report["size"]) == (205, 320)
    assert report["rise_mb"] <= report["estimate_mb"] < 420, report


def test_the_costliest_image_within_the_budget_stays_within_it(at_the_budget: tuple[Path, Path]) -> None:
    accepted, _ = at_the_budget

    report = measure(accepted)

    assert report["code"] is None, report
    assert BUDGET_MB * MB - 64 * 1024 < report["estimate_bytes"] <= BUDGET_MB * MB, report
    assert report["rise_mb"] <= report["estimate_mb"], report


def test_one_row_more_is_refused_as_too_large_before_decoding(at_the_budget: tuple[Path, Path]) -> None:
    _, refused = at_the_budget

    report = measure(refused)

    assert report["code"] == "image_too_large", report
    assert BUDGET_MB * MB < report["estimate_bytes"] <= BUDGET_MB * MB + 64 * 1024, report
    assert report["rise_mb"] < NOTHING_DECODED_MB, report
