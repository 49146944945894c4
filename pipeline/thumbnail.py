"""The image work: bytes of a photo in, an upright sRGB thumbnail out. A pure function.

Where the time goes, and so the order of the steps: decoding a 12 MP JPEG costs ~22 ms at 1/8
scale and ~130 ms at full size, so nothing touches full-size pixels. The size, orientation and
pixel limit are read from the header, and the memory decoding will take is estimated from it
(pipeline/decode_budget.py): more than MAX_DECODE_MB is refused before decoding. JPEG is
decoded at a reduced DCT scale (`draft`); formats with no reduced decoding (PNG, TIFF, WebP,
HEIC...) are decoded whole. Either is then converted and box-reduced a tile at a time, never
copied at full size (pipeline/shrink.py), resized, and only then colour-converted and turned.
See bench/RESULTS.md for the figures.
"""

from __future__ import annotations

import contextlib
import functools
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from pipeline import colour, decode_budget, shrink
from pipeline.decode_ledger import DecodeLedger
from pipeline.decoding import decoding, exif_orientation, open_image, orientation_before_loading
from pipeline.formats import OUTPUT_FORMATS

# JPEG is decoded at the smallest DCT scale (1/8, 1/4, 1/2) that still leaves the resize this
# factor of margin over the thumbnail. Measured PSNR against a full decode + LANCZOS (photo-like
# JPEGs, 44 dB is the target): at 1/8 and 1/4, margin 1.25 gives 43.5 dB, 1.5 gives 47, 2 gives
# 52. At 1/2 libjpeg's reduced IDCT aliases more: margin 1.5 gives 41 dB, 2 gives 46, 2.5 gives
# 49. A 12 MP photo thus decodes at 1/8 (22 ms; margin 2, as Pillow's thumbnail() asks, means
# 1/4: 2.5 ms more decoding and 4 ms more resizing, for 53 dB).
DRAFT_MARGINS = {8: 1.5, 4: 1.5, 2: 2.5}
# Formats decoded at full size are first box-reduced by an integer factor that leaves this
# margin for LANCZOS. On a 12 MP PNG: 2.0 resizes in 10 ms at 51 dB, 3.0 in 13 ms at 55 dB,
# none in 75 ms (libvips: 50 dB). Pillow's own thumbnail() uses 2.0.
REDUCING_GAP = 2.0

_JPEG_FORMATS = ("JPEG", "MPO")
# EXIF orientation -> the transpose that makes the image upright (as ImageOps.exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class Thumbnail:
    """An encoded thumbnail and what the worker logs and stores about it."""

    data: bytes
    width: int
    height: int
    format: str
    decode_s: float
    encode_s: float

    @property
    def extension(self) -> str:
        """The file extension for `format`, with its dot."""
        return OUTPUT_FORMATS[self.format][0]

    @property
    def media_type(self) -> str:
        """The Content-Type for `format`."""
        return OUTPUT_FORMATS[self.format][1]


def make_thumbnail(
    data: bytes,
    *,
    max_size: int = 320,
    quality: int = 85,
    max_pixels: int = 100_000_000,
    max_decode_mb: int = 256,
    ledger: DecodeLedger | None = None,
) -> Thumbnail:
    """Thumbnail the image in `data` to fit a `max_size` square, upright, in sRGB, never enlarged.

    Opaque images give a progressive JPEG of `quality`; images with transparency give a WebP
    (lossy colour at `quality`, lossless alpha). No metadata is carried over. Raises
    NotAnImage, CorruptImage or ImageTooLarge (more than `max_pixels`, or more than `max_decode_mb`
    of memory to decode, both told by the header). With `ledger`, the decoding waits until its
    memory fits beside that of the other threads sharing it, within `max_decode_mb` in all.
    """
    started = time.perf_counter()
    small = thumbnail_image(
        data, max_size=max_size, max_pixels=max_pixels, max_decode_mb=max_decode_mb, ledger=ledger
    )
    decoded = time.perf_counter()
    encoded, fmt = _encode(small, quality)
    return Thumbnail(
        data=encoded,
        width=small.width,
        height=small.height,
        format=fmt,
        decode_s=decoded - started,
        encode_s=time.perf_counter() - decoded,
    )


def fit_within(size: tuple[int, int], max_size: int) -> tuple[int, int]:
    """`size` scaled down to fit a `max_size` square, aspect kept, never enlarged, >= 1x1."""
    width, height = size
    scale = min(max_size / width, max_size / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def dct_scale(size: tuple[int, int], target: tuple[int, int]) -> int:
    """The JPEG DCT scale denominator (8, 4, 2 or 1) to decode `size` at for a `target` thumbnail."""
    for scale, margin in DRAFT_MARGINS.items():
        if size[0] / scale >= margin * target[0] and size[1] / scale >= margin * target[1]:
            return scale
    return 1


def thumbnail_image(
    data: bytes,
    *,
    max_size: int = 320,
    max_pixels: int = 100_000_000,
    max_decode_mb: int = 256,
    ledger: DecodeLedger | None = None,
) -> Image.Image:
    """The thumbnail of `make_thumbnail` as an image, before encoding (tests and the bench compare it)."""
    return decode_small(
        data, max_size=max_size, max_pixels=max_pixels, max_decode_mb=max_decode_mb, ledger=ledger
    ).image


@dataclass(frozen=True)
class Decoded:
    """A source decoded to fit a square, upright and in sRGB, with what its header said."""

    image: Image.Image
    source_format: str  # Pillow's name of the source's format
    source_size: tuple[int, int]  # upright
    orientation: int | None  # the EXIF orientation, when the source has one
    seen: Any = None  # what `inspect` returned, given the opened source


def decode_small(
    data: bytes,
    *,
    max_size: int,
    max_pixels: int = 100_000_000,
    max_decode_mb: int = 256,
    ledger: DecodeLedger | None = None,
    inspect: Callable[[Image.Image], Any] | None = None,
) -> Decoded:
    """Decode `data` to fit a `max_size` square (never enlarged), upright and in sRGB.

    `inspect` is called with the opened source once its pixels are loaded, before it is closed
    (to read its metadata); its result comes back as `seen`.
    """
    # Exited last to first: the ledger's share is given back once closing the source freed its pixels.
    with contextlib.ExitStack() as held, open_image(data, max_pixels=max_pixels) as image, decoding(image):
        orientation = orientation_before_loading(image)
        source_format, stored_size = str(image.format), image.size
        target, scale, needed = _plan(image, data, max_size)
        decode_budget.check(image, needed, max_decode_mb=max_decode_mb)
        if ledger is not None:
            held.enter_context(ledger.reserve(needed, limit=max_decode_mb * decode_budget.MB))
        box = None
        if scale > 1:
            # Asking for size // scale makes Pillow pick exactly `scale`; nothing is decoded yet.
            drafted = image.draft(None, (image.width // scale, image.height // scale))
            box = drafted[1] if drafted else None
        image.load()
        if orientation is None:
            orientation = exif_orientation(image)
        seen = inspect(image) if inspect is not None else None
        icc_profile = image.info.get("icc_profile")
        convert = colour.resizable
        if box is not None and image.mode == "CMYK":
            # CMYK to sRGB is far from linear (black generation, ink limits): converting at the
            # DCT-reduced size rather than after the resize gives 43 dB instead of 39 against a
            # full-size conversion, for 6 ms more per 12 MP photo.
            convert, icc_profile = functools.partial(colour.to_srgb, icc_profile=icc_profile), None
        # A new image: closing the source frees its pixels, full-size ones included.
        small = shrink.resized(image, target, box=box, gap=REDUCING_GAP, convert=convert)
    small = colour.to_srgb(small, icc_profile)
    turned = orientation in _TRANSPOSE
    if turned:
        small = small.transpose(_TRANSPOSE[orientation])
    # Orientations 5 to 8 turn the image a quarter: its upright size is the stored one swapped.
    upright = stored_size[::-1] if turned and orientation >= 5 else stored_size
    return Decoded(small, source_format, upright, orientation, seen)


def decode_bytes(data: bytes, *, max_size: int = 320) -> int:
    """The memory the decode budget counts for thumbnailing `data` (tests and the bench show it)."""
    with open_image(data, max_pixels=1 << 62) as image, decoding(image):
        orientation_before_loading(image)
        return _plan(image, data, max_size)[2]


def _plan(image: Image.Image, data: bytes, max_size: int) -> tuple[tuple[int, int], int, int]:
    """The thumbnail's size in stored pixels, the JPEG DCT scale and the decode budget's estimate."""
    # Fitting in a square gives the same size either way up, so the target in stored pixels does
    # not depend on the orientation (which some formats only tell after their pixels).
    target = fit_within(image.size, max_size)
    scale = dct_scale(image.size, target) if image.format in _JPEG_FORMATS else 1
    return target, scale, decode_budget.needed(image, data, scale=scale, target=target, gap=REDUCING_GAP)


def _encode(image: Image.Image, quality: int) -> tuple[bytes, str]:
    """Encode `image` without any metadata: JPEG when opaque, WebP when it has transparency."""
    if image.mode in ("RGBA", "LA"):
        lowest_alpha = image.getchannel("A").getextrema()[0]
        if lowest_alpha == 255:  # an alpha channel that hides nothing: drop it and save a JPEG
            image = image.convert("RGB" if image.mode == "RGBA" else "L")
    # None of the source's metadata goes out (EXIF with GPS, XMP, comments: a privacy matter), and
    # no ICC profile either: the pixels are sRGB, which browsers assume for untagged images, so an
    # sRGB tag would only add bytes to every thumbnail.
    image.info.clear()
    out = io.BytesIO()
    if image.mode in ("RGBA", "LA"):
        # Lossy WebP with a lossless alpha plane (alpha_quality=100): ~19 KB where PNG needs 120-140
        # for a 320 px photo with transparency, and faster to encode. method=3 gives the same size as
        # libwebp's default 4 (within 0.1 % on our samples) in 75 % of the time (12 ms vs 15).
        image.convert("RGBA").save(out, "WEBP", quality=quality, alpha_quality=100, method=3)
        return out.getvalue(), "WEBP"
    image.save(out, "JPEG", quality=quality, progressive=True)
    return out.getvalue(), "JPEG"
