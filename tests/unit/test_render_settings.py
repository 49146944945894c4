"""The fingerprint of the render settings, which photos.rendered_with keeps and re-rendering
compares, and the lanes a worker serves."""

from __future__ import annotations

import re

import pytest

from config import ConfigError, load_config, parse_lanes
from pipeline.render_settings import RenderSettings


def fingerprint(**env: str) -> str:
    return RenderSettings.from_config(load_config(env)).fingerprint


def test_the_same_settings_give_the_same_fingerprint_in_any_order() -> None:
    assert fingerprint() == fingerprint()
    assert fingerprint(RENDITIONS="sm:160,thumb:320") == fingerprint(RENDITIONS="thumb:320,sm:160")
    assert fingerprint(RENDITION_FORMATS="webp,avif") == fingerprint(RENDITION_FORMATS="avif,webp")
    assert re.fullmatch("[0-9a-f]{16}", fingerprint())


@pytest.mark.parametrize(
    "change",
    [
        {"RENDITIONS": "sm:160,thumb:320,lg:1280"},  # a preset added
        {"RENDITIONS": "sm:160,thumb:360"},  # a size changed
        {"RENDITIONS": "small:160,thumb:320"},  # a preset renamed
        {"RENDITIONS": "sm:160,thumb:320@2x"},  # a 2x variant
        {"RENDITION_FORMATS": "webp,avif"},
        {"RENDITION_FORMATS": "none"},
        {"THUMB_QUALITY": "70"},
        {"WEBP_QUALITY": "70"},
        {"AVIF_QUALITY": "40"},
    ],
)
def test_whatever_changes_a_renditions_bytes_changes_the_fingerprint(change: dict[str, str]) -> None:
    assert fingerprint(**change) != fingerprint()


def test_settings_that_change_no_rendition_keep_the_fingerprint() -> None:
    assert fingerprint(WORKER_THREADS="4", RETRY_MAX="1", WORKER_LANES="rerender") == fingerprint()


@pytest.mark.parametrize(
    ("text", "lanes"),
    [
        ("new,rerender", ("new", "rerender")),
        (" Rerender , new ", ("new", "rerender")),
        ("new", ("new",)),
        ("rerender", ("rerender",)),
        ("new,new", ("new",)),
    ],
)
def test_worker_lanes_name_one_lane_or_both(text: str, lanes: tuple[str, ...]) -> None:
    assert parse_lanes(text) == lanes


@pytest.mark.parametrize("text", [" , ", "old", "new,old", "all"])
def test_worker_lanes_that_name_no_known_lane_are_refused_at_load(text: str) -> None:
    with pytest.raises(ConfigError, match="WORKER_LANES"):
        load_config({"WORKER_LANES": text})
