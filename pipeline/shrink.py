"""Resizing a decoded image to its thumbnail without ever copying it at full size.

`resized` gives the same pixels as Pillow's `resize(size, LANCZOS, box, reducing_gap)` of the
image converted by `convert` (a mode change such as palette to RGB, or a colour conversion), but
in Pillow each step before the resize copies the whole image: converting a palette makes an RGB
copy, and resizing RGBA premultiplies a copy of it, each 4 bytes a pixel (400 MB at 100 MP).
Here the integer box reduction that `reducing_gap` starts with is done tile by tile: each tile is
cropped, converted, premultiplied and reduced on its own and pasted into the reduced image. Box
reduction averages blocks of `factor` pixels, and the tiles are cut on block boundaries, so no
block straddles two tiles and the result is the same to the bit. Only the reduced image (a few
times the thumbnail) and one tile are ever made besides the decoded image itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

# Pillow's LANCZOS reaches 3 source pixels either side, scaled (its `_filters_support`).
_LANCZOS_SUPPORT = 3.0
# A tile's side, rounded down to whole blocks: 512 x 512 x 4 bytes = 1 MB, converted and
# premultiplied in turn; about 50 tiles for a 12 MP photo, each a few C calls.
TILE = 512
# Modes that resample with their alpha premultiplied, as Pillow's resize and reduce do.
_PREMULTIPLIED = {"RGBA": "RGBa", "LA": "La"}
# 16-bit modes that Pillow resamples but cannot box-reduce: reduced as 32-bit integers instead.
_WIDENED = {"I;16": "I", "I;16L": "I", "I;16B": "I", "I;16N": "I"}

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Plan:
    """How Pillow's resize reduces before resampling: the factor and the source area it reduces."""

    factor: tuple[int, int]
    area: tuple[int, int, int, int]  # the source pixels reduced (the box widened by the filter)

    @property
    def size(self) -> tuple[int, int]:
        """The size of the reduced image (a partial block at an edge makes one more pixel)."""
        left, top, right, bottom = self.area
        return math.ceil((right - left) / self.factor[0]), math.ceil((bottom - top) / self.factor[1])

    def box_after(self, box: Box) -> Box:
        """`box` in the coordinates of the reduced image."""
        (fx, fy), (left, top) = self.factor, self.area[:2]
        return (box[0] - left) / fx, (box[1] - top) / fy, (box[2] - left) / fx, (box[3] - top) / fy


def plan(size: tuple[int, int], target: tuple[int, int], box: Box | None, gap: float) -> Plan | None:
    """The reduction Pillow's resize of `size` (its `box` of it) to `target` makes first, if any."""
    box = box or (0.0, 0.0, float(size[0]), float(size[1]))
    scale_x, scale_y = (box[2] - box[0]) / target[0], (box[3] - box[1]) / target[1]
    factor = (int(scale_x / gap) or 1, int(scale_y / gap) or 1)
    if factor == (1, 1):
        return None
    support_x, support_y = (_LANCZOS_SUPPORT - 0.5) * scale_x, (_LANCZOS_SUPPORT - 0.5) * scale_y
    area = (
        max(0, int(box[0] - support_x)),
        max(0, int(box[1] - support_y)),
        min(size[0], math.ceil(box[2] + support_x)),
        min(size[1], math.ceil(box[3] + support_y)),
    )
    return Plan(factor, area)


def resized(
    image: Image.Image,
    target: tuple[int, int],
    *,
    box: Box | None = None,
    gap: float,
    convert: Callable[[Image.Image], Image.Image],
) -> Image.Image:
    """`convert(image)` resized to `target` with LANCZOS, reducing first as `gap` says; a new image.

    `convert` returns its argument itself when it has nothing to convert (as colour.resizable does).
    """
    steps = plan(image.size, target, box, gap)
    if steps is None:  # at most `gap` times the target: small enough to convert whole
        small = convert(image)
        return small.resize(target, Image.Resampling.LANCZOS, box=box)
    reduced = _reduce(image, steps, convert)
    out = reduced.resize(target, Image.Resampling.LANCZOS, box=steps.box_after(box or (0, 0, *image.size)))
    back = {premultiplied: mode for mode, premultiplied in _PREMULTIPLIED.items()}
    return out.convert(back[out.mode]) if out.mode in back else out


def _reduce(image: Image.Image, steps: Plan, convert: Callable[[Image.Image], Image.Image]) -> Image.Image:
    """The reduction of `steps`, a tile at a time; in the resampling mode (premultiplied alpha)."""
    (fx, fy), (left, top, right, bottom) = steps.factor, steps.area
    probe = image.crop((left, top, left + 1, top + 1))
    if convert(probe) is probe and image.mode not in _PREMULTIPLIED and image.mode not in _WIDENED:
        return image.reduce(steps.factor, box=steps.area)  # nothing to convert: reduced in place
    reduced: Image.Image | None = None
    step_x, step_y = max(1, TILE // fx) * fx, max(1, TILE // fy) * fy
    for y in range(top, bottom, step_y):
        for x in range(left, right, step_x):
            tile = convert(image.crop((x, y, min(x + step_x, right), min(y + step_y, bottom))))
            if tile.mode in _PREMULTIPLIED or tile.mode in _WIDENED:
                tile = tile.convert(_PREMULTIPLIED.get(tile.mode) or _WIDENED[tile.mode])
            if reduced is None:
                reduced = Image.new(tile.mode, steps.size)
            reduced.paste(tile.reduce((fx, fy)), ((x - left) // fx, (y - top) // fy))
    assert reduced is not None  # the area holds at least one pixel
    return reduced
