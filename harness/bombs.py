"""Decode bombs: small files that announce many pixels, within the default 100 MP pixel cap.

Each is one solid colour, so it compresses to a few hundred kilobytes however large it decodes.
The unit tests, the end-to-end test and the benchmark all use these; `write` makes a file once per
directory (generating the biggest takes a few seconds and 400 MB of the caller's memory).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from pipeline.decode_budget import MB
from pipeline.thumbnail import decode_bytes

ORIENTATION = 0x0112
MP100 = (12500, 8000)  # 100 MP, landscape: an orientation that turns it shows in the thumbnail


@dataclass(frozen=True)
class Bomb:
    """One decode bomb: its file name, what it is, and what the worker does with it by default."""

    name: str
    title: str
    outcome: str  # "completed", or the failure code under the default MAX_DECODE_MB
    make: Callable[[], bytes]
    upright: tuple[int, int]  # the thumbnail's size when it completes (THUMB_MAX 320)

    @property
    def content_type(self) -> str:
        """The media type a server sends it with."""
        return "image/" + self.name.rsplit(".", 1)[1].replace("jpg", "jpeg").replace("tif", "tiff")


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    """`image` encoded in `fmt`."""
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def rgb_tiff_orientation_6(size: tuple[int, int] = MP100) -> bytes:
    """An RGB TIFF (deflate) tagged EXIF orientation 6: turned a quarter clockwise to be upright."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    return _save(Image.new("RGB", size, (200, 30, 40)), "TIFF", compression="tiff_deflate", exif=exif)


def one_strip_tiff(size: tuple[int, int] = (6000, 4000)) -> bytes:
    """An RGB TIFF (deflate) in a single strip (24 MP): libtiff decodes the strip whole, raw."""
    return _save(
        Image.new("RGB", size, (40, 90, 160)), "TIFF", compression="tiff_deflate", strip_size=1 << 30
    )


def palette_png(size: tuple[int, int] = MP100) -> bytes:
    """An 8-bit palette PNG."""
    image = Image.new("P", size, 1)
    image.putpalette([0, 0, 0, 30, 120, 200])
    return _save(image, "PNG", compress_level=9)


def progressive_grey_jpeg(size: tuple[int, int] = MP100) -> bytes:
    """A progressive grey JPEG: libjpeg keeps every coefficient, 2 bytes a pixel."""
    return _save(Image.new("L", size, 128), "JPEG", progressive=True, quality=50)


def sixteen_bit_png(size: tuple[int, int] = (8000, 6250)) -> bytes:
    """A 16-bit grey PNG (50 MP; Pillow holds it in 2 bytes a pixel)."""
    return _save(Image.new("I;16", size, 3000), "PNG", compress_level=9)


def rgba_png(size: tuple[int, int] = (8000, 6250)) -> bytes:
    """An RGBA PNG, half transparent (50 MP)."""
    return _save(Image.new("RGBA", size, (10, 200, 30, 100)), "PNG", compress_level=9)


def progressive_cmyk_jpeg(size: tuple[int, int] = (6000, 4000)) -> bytes:
    """A progressive CMYK JPEG (24 MP; its coefficients take 8 bytes a pixel)."""
    return _save(Image.new("CMYK", size, (10, 20, 30, 40)), "JPEG", progressive=True, quality=50)


BOMBS = {
    bomb.name: bomb
    for bomb in (
        Bomb(
            "tiff-100mp-rgb-orientation-6.tif",
            "100 MP RGB TIFF, orientation 6",
            "image_too_large",
            rgb_tiff_orientation_6,
            (205, 320),
        ),
        Bomb(
            "tiff-24mp-rgb-one-strip.tif",
            "24 MP RGB TIFF in one strip",
            "completed",
            one_strip_tiff,
            (320, 213),
        ),
        Bomb("png-100mp-palette.png", "100 MP palette PNG", "completed", palette_png, (320, 205)),
        Bomb(
            "jpeg-100mp-progressive-grey.jpg",
            "100 MP progressive grey JPEG",
            "completed",
            progressive_grey_jpeg,
            (320, 205),
        ),
        Bomb("png-50mp-16bit-grey.png", "50 MP 16-bit grey PNG", "completed", sixteen_bit_png, (320, 250)),
        Bomb("png-50mp-rgba.png", "50 MP RGBA PNG", "completed", rgba_png, (320, 250)),
        Bomb(
            "jpeg-24mp-progressive-cmyk.jpg",
            "24 MP progressive CMYK JPEG",
            "completed",
            progressive_cmyk_jpeg,
            (320, 213),
        ),
    )
}


def at_the_budget(max_decode_mb: int, *, width: int = 8000) -> tuple[bytes, bytes]:
    """Two RGB TIFFs (deflate) one row apart: the tallest whose decode estimate is within
    `max_decode_mb` (the costliest input accepted) and the next (refused).

    TIFF leaves the least slack between the estimate and the memory really used (the decoded
    pixels are nearly all of it). The estimate grows by about the same each row: two small files
    give how much, the height follows, and neighbouring heights are tried until the edge is found.
    """
    budget = max_decode_mb * MB
    files: dict[int, tuple[bytes, int]] = {}

    def tiff(height: int) -> tuple[bytes, int]:
        if height not in files:
            data = _save(Image.new("RGB", (width, height), (90, 140, 60)), "TIFF", compression="tiff_deflate")
            files[height] = data, decode_bytes(data)
        return files[height]

    low, high = tiff(1000)[1], tiff(1100)[1]
    height = 1000 + int((budget - low) // ((high - low) / 100))
    for _ in range(6):
        if tiff(height)[1] > budget:
            height -= 1
        elif tiff(height + 1)[1] <= budget:
            height += 1
        else:
            return tiff(height)[0], tiff(height + 1)[0]
    raise RuntimeError(f"no height of width {width} found at the edge of {max_decode_mb} MB")


def write(name: str, directory: Path) -> Path:
    """The file of bomb `name` in `directory`, made there unless it already is."""
    path = directory / name
    if not path.exists():
        partial = path.with_suffix(".partial")
        partial.write_bytes(BOMBS[name].make())
        partial.rename(path)
    return path
