"""The image work of a photo: its bytes in; every rendition, its placeholder and its facts out.

A pure function, `make_renditions`. All renditions come from one decode: the source is shrunk
on load to the largest size needed (pipeline/thumbnail.py's `decode_small`: a reduced JPEG DCT
scale, a tiled box reduction for other formats, then sRGB and upright), and each smaller
preset is resized from the last one made, so a 12 MP JPEG is decoded once at 1/8 or 1/4 scale
whatever the number of presets. Each size is then encoded in the base format (JPEG, or PNG for
a photo with transparency) and in the extra formats (WebP, AVIF), with no metadata.

The same source bytes give the same rendition bytes on any host running the pinned Pillow:
every encoder runs single-threaded with fixed settings, and nothing of the time or the host
goes into a file. ETags and CDN caches stay stable when a photo is processed again.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass

from PIL import Image

from pipeline.camera_facts import CameraFacts, camera_facts
from pipeline.decode_ledger import DecodeLedger
from pipeline.formats import FORMATS, JPEG, PNG, OutputFormat
from pipeline.placeholder import Placeholder, make_placeholder
from pipeline.presets import Preset
from pipeline.thumbnail import decode_small, fit_within

# WebP's encoder effort, 0-6. On 12 MP photos rendered at 640/320/160 px (bench/RESULTS.md),
# method 2 is 4 % larger than libwebp's default 4 and 2.3x faster (8.6 vs 20 ms at 640 px);
# 3 and above buy under 1 % more.
WEBP_METHOD = 2
# libavif's speed, 0-10 (10 fastest). At 320-640 px speeds 9 and 10 give the same bytes in the
# same time, 8 is 3x slower for 15 % fewer bytes, 6 (the default) 8x slower.
AVIF_SPEED = 9


@dataclass(frozen=True)
class Qualities:
    """The encoders' quality settings (THUMB_QUALITY, WEBP_QUALITY, AVIF_QUALITY)."""

    jpeg: int = 85
    webp: int = 80
    avif: int = 60


@dataclass(frozen=True)
class Rendition:
    """One encoded rendition: a preset in a format."""

    preset: str
    format: OutputFormat
    width: int
    height: int
    data: bytes
    digest: str  # sha256 of `data`, hex: names the file and makes the ETag

    @property
    def size(self) -> tuple[int, int]:
        """Width and height."""
        return self.width, self.height


@dataclass(frozen=True)
class SourceFacts:
    """What the source is: its size upright, format, bytes, transparency, orientation, camera."""

    width: int
    height: int
    format: str  # Pillow's name: JPEG, PNG, WEBP, HEIF, AVIF, TIFF, GIF...
    bytes: int
    has_alpha: bool  # the renditions keep transparency (some pixel is not opaque)
    orientation: int | None  # the EXIF orientation, 1-8
    camera: CameraFacts


@dataclass(frozen=True)
class Rendered:
    """Everything the image work gives for one photo."""

    renditions: tuple[Rendition, ...]  # largest first, the base format first within a size
    facts: SourceFacts
    placeholder: Placeholder
    decode_s: float  # decoding and resizing
    encode_s: float  # encoding, the placeholder included


def make_renditions(
    data: bytes,
    presets: tuple[Preset, ...],
    formats: tuple[str, ...] = (),
    *,
    qualities: Qualities = Qualities(),
    max_pixels: int = 100_000_000,
    max_decode_mb: int = 256,
    ledger: DecodeLedger | None = None,
) -> Rendered:
    """Render the image in `data` at every preset (largest first, as pipeline.presets orders
    them), in the base format and each of `formats` (names of pipeline.formats.EXTRA_FORMATS).

    Raises as make_thumbnail does: NotAnImage, CorruptImage, ImageTooLarge (told by the header).
    """
    started = time.perf_counter()
    largest = max(preset.size for preset in presets)
    decoded = decode_small(
        data,
        max_size=largest,
        max_pixels=max_pixels,
        max_decode_mb=max_decode_mb,
        ledger=ledger,
        inspect=camera_facts,
    )
    source = decoded.source_size
    image = _without_idle_alpha(decoded.image)
    has_alpha = image.mode in ("RGBA", "LA")
    base = PNG if has_alpha else JPEG
    sized = cascade(image, source, presets)
    resized = time.perf_counter()
    outputs = (base, *(FORMATS[name] for name in formats))
    renditions = tuple(
        _rendition(preset.name, picture, fmt, qualities) for preset, picture in sized for fmt in outputs
    )
    placeholder = make_placeholder(sized[-1][1])
    facts = SourceFacts(
        width=source[0],
        height=source[1],
        format=decoded.source_format,
        bytes=len(data),
        has_alpha=has_alpha,
        orientation=decoded.orientation,
        camera=decoded.seen,
    )
    return Rendered(
        renditions=renditions,
        facts=facts,
        placeholder=placeholder,
        decode_s=resized - started,
        encode_s=time.perf_counter() - resized,
    )


def cascade(
    image: Image.Image, source: tuple[int, int], presets: tuple[Preset, ...]
) -> list[tuple[Preset, Image.Image]]:
    """Each wanted preset's image, from `image` (the source of upright size `source` decoded at
    the largest preset): largest first, each smaller one resized from the last."""
    sized: list[tuple[Preset, Image.Image]] = []
    current = image
    for preset in presets:
        if not preset.wanted(source):
            continue
        target = fit_within(source, preset.size)
        if target != current.size:
            current = current.resize(target, Image.Resampling.LANCZOS)
        sized.append((preset, current))
    return sized


def _without_idle_alpha(image: Image.Image) -> Image.Image:
    """`image` without its alpha channel when that hides nothing (every pixel opaque)."""
    if image.mode in ("RGBA", "LA") and image.getchannel("A").getextrema()[0] == 255:
        return image.convert("RGB" if image.mode == "RGBA" else "L")
    return image


def _rendition(preset: str, image: Image.Image, fmt: OutputFormat, qualities: Qualities) -> Rendition:
    """`image` encoded in `fmt`, without any metadata."""
    data = encode(image, fmt, qualities)
    return Rendition(preset, fmt, image.width, image.height, data, hashlib.sha256(data).hexdigest())


def encode(image: Image.Image, fmt: OutputFormat, qualities: Qualities) -> bytes:
    """Encode `image` (RGB, RGBA, L or LA, sRGB) in `fmt`, keeping its alpha where `fmt` can.

    None of the source's metadata goes out (EXIF with GPS, XMP, comments: a privacy matter), and
    no ICC profile either: the pixels are sRGB, which browsers assume for untagged images.
    """
    image.info.clear()  # a resize copies the source's info, which some encoders would write out
    out = io.BytesIO()
    if fmt is JPEG:
        image.save(out, "JPEG", quality=qualities.jpeg, progressive=True)
    elif fmt is PNG:
        # Level 6 (zlib's default): 9 is 3x slower for 1-2 % fewer bytes on photos.
        image.save(out, "PNG", compress_level=6)
    else:
        colour = image.convert("RGBA" if image.mode in ("RGBA", "LA") else "RGB")
        if fmt.name == "webp":
            # Lossy colour, lossless alpha (alpha_quality 100: edges of cut-outs stay clean).
            colour.save(out, "WEBP", quality=qualities.webp, alpha_quality=100, method=WEBP_METHOD)
        else:
            colour.save(out, "AVIF", quality=qualities.avif, speed=AVIF_SPEED, max_threads=1)
    return out.getvalue()
