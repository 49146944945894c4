"""What the renditions suite's parts share: today's settings, the files, the unencoded renditions.

The settings are read from config.Config's defaults (not the environment), so the figures are
those of a worker left at its defaults; a change of default there changes what is measured.
"""

from __future__ import annotations

import dataclasses
import io
import statistics
from typing import Any

from PIL import Image

import config
from bench import corpus
from pipeline.camera_facts import camera_facts
from pipeline.formats import OutputFormat
from pipeline.presets import Preset, parse_formats, parse_renditions
from pipeline.renditions import Qualities, cascade, encode
from pipeline.thumbnail import decode_small

_DEFAULTS: dict[str, Any] = {field.name: field.default for field in dataclasses.fields(config.Config)}
RENDITIONS = str(_DEFAULTS["renditions"])  # sm:160,thumb:320
PRESETS = parse_renditions(RENDITIONS)
FORMATS = parse_formats(str(_DEFAULTS["rendition_formats"]))  # ("webp",)
WITH_AVIF = parse_formats("webp,avif")
QUALITIES = Qualities(
    jpeg=int(_DEFAULTS["thumb_quality"]),
    webp=int(_DEFAULTS["webp_quality"]),
    avif=int(_DEFAULTS["avif_quality"]),
)
MAX_PIXELS = int(_DEFAULTS["max_image_pixels"])
MAX_DECODE_MB = int(_DEFAULTS["max_decode_mb"])
# Every size a site is likely to ask for, to compare the formats' bytes at each.
ALL_SIZES = parse_renditions("sm:160,thumb:320,md:640,lg:1280")
# Today's single thumbnail: make_thumbnail(data, max_size=320, quality=85).
THUMB_SIZE = 320
FILES = tuple(f"jpeg-12mp-{i}.jpg" for i in range(3))


def load(names: tuple[str, ...] = FILES) -> list[bytes]:
    """The corpus files `names`, generated first where missing."""
    corpus.ensure(names=names)
    return [(corpus.CORPUS_DIR / name).read_bytes() for name in names]


def sized(data: bytes, presets: tuple[Preset, ...]) -> list[tuple[Preset, Image.Image]]:
    """Each preset's image before encoding, made as make_renditions makes it (an opaque source):
    one decode_small at the largest size, then each smaller preset resized from the last."""
    decoded = decode_small(
        data,
        max_size=max(preset.size for preset in presets),
        max_pixels=MAX_PIXELS,
        max_decode_mb=MAX_DECODE_MB,
        inspect=camera_facts,
    )
    return cascade(decoded.image, decoded.source_size, presets)


def encoded(image: Image.Image, fmt: OutputFormat, qualities: Qualities = QUALITIES) -> bytes:
    """`image` encoded as make_renditions encodes it (on a copy: encode clears the image's info)."""
    return encode(image.copy(), fmt, qualities)


def decoded_rgb(data: bytes) -> Image.Image:
    """An encoded rendition decoded back to RGB pixels."""
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def median(values: list[float]) -> float:
    """The median of `values`."""
    return statistics.median(values)
