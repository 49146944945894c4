"""RENDITIONS and RENDITION_FORMATS: the sizes and formats every photo is rendered in.

RENDITIONS is a list of `name:size` presets, `size` the longest side in pixels: each rendition
fits within a `size` square, keeps the aspect ratio and is never enlarged. `name:size@2x` adds
the preset `name@2x` at twice the size, made only where the source is larger than `name` (a
source of 400 px has `thumb` at 320 and `thumb@2x` at 400, one of 300 px no `thumb@2x`). Every
preset is written in the base format (JPEG, or PNG for a photo with transparency) and in each
of RENDITION_FORMATS (webp, avif).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.formats import EXTRA_FORMATS

PRESET_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# A preset's size: from a placeholder-sized 16 px to a 4K screen's longest side (and its 2x).
MIN_SIZE, MAX_SIZE = 16, 4096
MAX_PRESETS = 16
DOUBLE = "@2x"


class PresetError(ValueError):
    """RENDITIONS or RENDITION_FORMATS cannot be read; the message says why."""


@dataclass(frozen=True)
class Preset:
    """One size of rendition."""

    name: str
    size: int
    # For `name@2x`: the preset it doubles, made only where the source is larger than that one.
    doubles: Preset | None = None

    def wanted(self, source: tuple[int, int]) -> bool:
        """Whether a source of `source` pixels (upright or not) has this rendition."""
        return self.doubles is None or max(source) > self.doubles.size


def parse_renditions(text: str) -> tuple[Preset, ...]:
    """The presets of a RENDITIONS value, largest first (the order they are made in)."""
    presets: list[Preset] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        name, colon, size_text = entry.partition(":")
        double = size_text.endswith(DOUBLE)
        size_text = size_text.removesuffix(DOUBLE)
        if not colon or not PRESET_NAME.fullmatch(name) or not size_text.isdigit():
            raise PresetError(
                f"{entry!r} is not name:size (a name of a-z, 0-9, _ or -, starting with a letter;"
                " the size in pixels, optionally followed by @2x)"
            )
        size = int(size_text)
        if not MIN_SIZE <= size <= MAX_SIZE or (double and size * 2 > MAX_SIZE):
            raise PresetError(f"{entry!r}: sizes go from {MIN_SIZE} to {MAX_SIZE} px, @2x included")
        preset = Preset(name, size)
        presets.append(preset)
        if double:
            presets.append(Preset(f"{name}{DOUBLE}", size * 2, doubles=preset))
    names = [preset.name for preset in presets]
    if not presets:
        raise PresetError("no preset: name at least one, as in thumb:320")
    if duplicates := sorted({name for name in names if names.count(name) > 1}):
        raise PresetError(f"preset {duplicates[0]!r} is named twice")
    if len(presets) > MAX_PRESETS:
        raise PresetError(f"{len(presets)} presets, @2x included: at most {MAX_PRESETS}")
    return tuple(sorted(presets, key=lambda preset: (-preset.size, preset.name)))


def parse_formats(text: str) -> tuple[str, ...]:
    """The formats of a RENDITION_FORMATS value beside the base one, in the order given."""
    formats: list[str] = []
    for name in (part.strip().lower() for part in text.split(",")):
        if not name or name in ("jpeg", "jpg", "none"):
            continue  # the base format is always made
        if name not in EXTRA_FORMATS:
            raise PresetError(f"{name!r} is not one of {', '.join(EXTRA_FORMATS)}")
        if name not in formats:
            formats.append(name)
    return tuple(formats)
