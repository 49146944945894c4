"""Resizing a tile at a time gives Pillow's own result to the bit, with no full-size copy."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest
from PIL import Image

from pipeline import colour, shrink
from pipeline.thumbnail import make_thumbnail
from tests.unit.thumbnail_images import encode

SIZE = (1037, 763)  # odd sizes: blocks and tiles end part-way at the right and bottom edges
TARGET = (97, 71)


def _noise(mode: str) -> Image.Image:
    """A noisy image of SIZE in `mode` (every channel different), so that any misplaced block shows."""
    bands = [Image.effect_noise(SIZE, 60 + 10 * index) for index in range(4)]
    rgba = Image.merge("RGBA", bands)
    if mode.startswith("P"):
        image = Image.frombytes("P", SIZE, bands[0].tobytes())
        image.putpalette(bytes((index * 37 + 11) % 256 for index in range(768)))  # 256 colours
        if mode == "P transparent":
            image.info["transparency"] = 3
        return image
    if mode == "L transparent":
        image = bands[0]
        image.info["transparency"] = 128
        return image
    if mode == "I;16":
        return bands[0].point(lambda value: value * 257, "I").convert("I;16")
    if mode == "F":
        return bands[0].convert("F").point(lambda value: value / 255)
    return rgba.convert(mode)


MODES = ["RGB", "RGBA", "LA", "L", "1", "P", "P transparent", "L transparent", "I;16", "F", "CMYK"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("box", [None, (0.5, 0.25, 1030.3, 760.7)], ids=["whole", "a box, as JPEG drafts"])
def test_a_tile_at_a_time_is_pillows_resize_to_the_bit(
    mode: str, box: tuple[float, float, float, float] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against converting the whole image then Pillow's resize with the same reducing gap."""
    monkeypatch.setattr(shrink, "TILE", 101)  # 88 tiles, none aligned with anything else
    image = _noise(mode)
    convert: Callable[[Image.Image], Image.Image] = colour.resizable
    if mode == "CMYK":  # as the pipeline converts a DCT-reduced CMYK JPEG
        convert = functools.partial(colour.to_srgb, icc_profile=None)
    whole = convert(image)
    if whole.mode == "I;16":  # Pillow box-reduces 16 bits only once widened (so does shrink)
        whole = whole.convert("I")

    ours = shrink.resized(image, TARGET, box=box, gap=2.0, convert=convert)
    pillows = whole.resize(TARGET, Image.Resampling.LANCZOS, box=box, reducing_gap=2.0)

    assert (ours.mode, ours.size) == (pillows.mode, pillows.size)
    assert ours.tobytes() == pillows.tobytes()


def test_a_sixteen_bit_png_larger_than_four_thumbnails_is_thumbnailed() -> None:
    """Pillow cannot box-reduce 16-bit images: such a PNG used to fail as corrupt."""
    data = encode(_noise("I;16").resize((2000, 1500)), "PNG")

    thumbnail = make_thumbnail(data)

    assert (thumbnail.width, thumbnail.height, thumbnail.format) == (320, 240, "JPEG")
