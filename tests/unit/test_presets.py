"""RENDITIONS and RENDITION_FORMATS: what they accept, how they order, what they refuse and why."""

from __future__ import annotations

import pytest

from config import ConfigError, load_config
from pipeline.presets import Preset, PresetError, parse_formats, parse_renditions


def test_the_default_set_is_the_seeds_thumb_and_its_half_in_jpeg_and_webp() -> None:
    config = load_config({})
    assert [(p.name, p.size) for p in config.presets] == [("thumb", 320), ("sm", 160)]
    assert config.extra_formats == ("webp",)


def test_presets_come_largest_first_and_2x_adds_a_preset_at_twice_the_size() -> None:
    presets = parse_renditions(" sm:160 , thumb:320@2x,lg:1280")
    assert [(p.name, p.size) for p in presets] == [
        ("lg", 1280),
        ("thumb@2x", 640),
        ("thumb", 320),
        ("sm", 160),
    ]
    double = presets[1]
    assert double.doubles == Preset("thumb", 320)
    assert not double.wanted((320, 200)), "only a source larger than thumb"
    assert double.wanted((200, 321))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("thumb", "not name:size"),
        ("Thumb:320", "not name:size"),
        ("thumb:big", "not name:size"),
        ("thumb:8", "sizes go from 16"),
        ("thumb:3000@2x", "sizes go from 16"),
        ("thumb:320,thumb:640", "named twice"),
        ("thumb:320@2x,thumb@2x:100", "not name:size"),
        ("", "no preset"),
        (",".join(f"p{i}:{100 + i}" for i in range(17)), "at most 16"),
    ],
)
def test_a_renditions_value_that_cannot_be_used_is_refused_saying_why(value: str, why: str) -> None:
    with pytest.raises(PresetError, match=why):
        parse_renditions(value)
    if value:
        with pytest.raises(ConfigError, match=f"RENDITIONS: .*{why}"):
            load_config({"RENDITIONS": value})


def test_formats_beside_the_base_one() -> None:
    assert parse_formats("avif, WEBP,avif") == ("avif", "webp")
    assert parse_formats("none") == parse_formats("jpeg") == ()
    with pytest.raises(ConfigError, match="RENDITION_FORMATS: 'gif' is not one of webp, avif"):
        load_config({"RENDITION_FORMATS": "webp,gif"})


def test_thumb_max_which_renditions_replaced_is_refused_not_ignored() -> None:
    with pytest.raises(ConfigError, match="THUMB_MAX is replaced by RENDITIONS"):
        load_config({"THUMB_MAX": "400"})
