"""The decode budget: the memory thumbnailing an image will take, estimated from its header.

A few hundred kilobytes can announce 100 MP, and what that costs depends on more than the
pixel count: the mode Pillow decodes into (a palette takes 1 byte a pixel, RGB 4), the decoder's
own buffers (a progressive JPEG holds every DCT coefficient, a TIFF strip is decoded whole, WebP,
AVIF and HEIF decode into buffers of their own before Pillow copies the pixels), and what the
pipeline makes on top (pipeline/shrink.py keeps that to a tile and the reduced image). `needed`
adds these up before anything is decoded, so an image that would take more than MAX_DECODE_MB
is refused, as too large, at the cost of reading its header. Per-pixel figures below are
measured (peak RSS of the thumbnail call in a fresh process) with a margin; the unit tests in
tests/unit/test_thumbnail_memory.py hold each estimate above the memory really used.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from pipeline import headers, shrink
from pipeline.decoding import PNG_TEXT_BYTES
from pipeline.errors import ImageTooLarge

MB = 1 << 20
# Bytes a pixel in the modes Pillow keeps in less than 4 (RGB takes 4, as do I, F, CMYK, LA).
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
# Whatever does not grow with the image (lcms transforms, the encoder, the thumbnail, Python
# objects): measured at 2-5 MB in every case, allowed 16, so that a worker whose own memory is
# 57 MB (measured after a first photo) stays under 300 MB with any input within the default 256.
FIXED = 16 * MB
# Decoders that hold the whole picture in buffers of their own besides Pillow's image, in bytes a
# pixel: the peak of the thumbnail call in a fresh process at 12 MP, less Pillow's 4, plus ~15 %.
# WebP: libwebp's canvas and its copy, then the frame as bytes (12), whatever the file.
_WEBP_BYTES = 14
# HEIF and AVIF: (more than 8 bits a sample, 4:4:4 chroma, alpha) -> bytes: their planes, and
# libheif's interleaved (16-bit when deep) RGB(A). HEIF 8-bit 4:2:0 measured 3.6, 10-bit 4:4:4 with
# alpha 16.4. No AVIF of more than 8 bits could be made here: those rows are the 8-bit ones
# plus what the same depth adds to HEIF.
_PLANAR_BYTES = {
    "HEIF": {
        (False, False, False): 5,
        (False, False, True): 6,
        (False, True, False): 7,
        (False, True, True): 10,
        (True, False, False): 5,
        (True, False, True): 10,
        (True, True, False): 13,
        (True, True, True): 19,
    },
    "AVIF": {
        (False, False, False): 7,
        (False, False, True): 9,
        (False, True, False): 9,
        (False, True, True): 11,
        (True, False, False): 9,
        (True, False, True): 14,
        (True, True, False): 15,
        (True, True, True): 19,
    },
}
# BMP's RLE decoder builds the picture in a bytearray and copies it to bytes before Pillow's image.
_BMP_RLE = (1, 2)
_BMP_RLE_BYTES = 3
# TIFF tags, and the values of two of them.
_BITS_PER_SAMPLE, _COMPRESSION, _PHOTOMETRIC, _SAMPLES_PER_PIXEL, _ROWS_PER_STRIP = 258, 259, 262, 277, 278
_TILE_WIDTH, _TILE_LENGTH = 322, 323
_OLD_JPEG, _JPEG, _YCBCR = 6, 7, 6


def mode_bytes(mode: str) -> int:
    """Bytes a pixel of `mode` takes in Pillow's memory."""
    return _MODE_BYTES.get(mode, 4)


def needed(image: Image.Image, data: bytes, *, scale: int, target: tuple[int, int], gap: float) -> int:
    """Bytes thumbnailing `image` (opened, not loaded) to `target` takes at its peak, its body included.

    `scale` is the DCT scale a JPEG is decoded at (1 for every other format): Pillow's image of it
    is that much smaller, libjpeg's coefficients (when it keeps them) are not. `gap` is the
    reducing gap of the resize (pipeline/shrink.py).
    """
    decoded_size = (-(-image.width // scale), -(-image.height // scale))
    pixels = decoded_size[0] * decoded_size[1]
    # The body is held while it decodes, and Pillow copies metadata out of it (JPEG APPn segments,
    # TIFF tags, PNG chunks; BMP has none): at most the body again, and PNG text inflates up to
    # its own limit.
    metadata = 0 if image.format == "BMP" else len(data)
    metadata += PNG_TEXT_BYTES if image.format == "PNG" else 0
    total = FIXED + len(data) + metadata + pixels * mode_bytes(image.mode) + _decoder(image, data)
    # pipeline/shrink.py: one tile in its three forms, then the reduced image and the resize's
    # intermediate (no larger); without a reduction the whole (small) image is converted once.
    steps = shrink.plan(decoded_size, target, None, gap)
    if steps is None:
        return total + 2 * pixels * 4
    reduced_width, reduced_height = steps.size
    return total + 3 * shrink.TILE * shrink.TILE * 4 + 2 * reduced_width * reduced_height * 4


def check(image: Image.Image, bytes_needed: int, *, max_decode_mb: int) -> None:
    """Raise ImageTooLarge, before any decoding, when `bytes_needed` exceeds the budget."""
    if bytes_needed > max_decode_mb * MB:
        raise ImageTooLarge(
            f"the {image.format} header announces a {image.width}x{image.height} {image.mode} image "
            f"that would take about {bytes_needed / MB:,.0f} MB to decode, more than the decode budget "
            f"of {max_decode_mb:,} MB"
        )


def _decoder(image: Image.Image, data: bytes) -> int:
    """Bytes the format's decoder holds at its peak besides Pillow's image of the picture."""
    width, height = image.size
    rows = 16 * width  # a few rows of the widest kind (16-bit RGBA) for the line-based decoders
    fmt = image.format or ""
    if fmt in ("JPEG", "MPO"):
        components = getattr(image, "layer", [])
        return headers.jpeg_coefficient_bytes(data, image.size, components) + rows
    if fmt == "TIFF":
        return _tiff_chunk(image) + rows
    if fmt == "BMP" and image.info.get("compression") in _BMP_RLE:
        return width * height * _BMP_RLE_BYTES
    if fmt == "GIF":
        return width * height + rows  # frame 0's disposal may fill its area with the background
    if fmt == "WEBP":
        return width * height * _WEBP_BYTES + len(data)  # the plugin reads the file into a copy
    if fmt in _PLANAR_BYTES:
        deep, full = _depth_and_chroma(image, data)
        per_pixel = _PLANAR_BYTES[fmt][deep, full, image.mode in ("RGBA", "LA")]
        return width * height * per_pixel + len(data)
    return rows


def _tiff_chunk(image: Image.Image) -> int:
    """libtiff decodes a strip or a tile whole: raw, and as 32-bit RGBA too for old-style JPEG and
    YCbCr other than JPEG-compressed (libtiff's RGBA interface)."""
    if not getattr(image, "use_load_libtiff", True):
        return 0  # uncompressed: Pillow reads it in 64 KB blocks straight into the image
    tags = getattr(image, "tag_v2", {})
    width, height = image.size
    if _TILE_WIDTH in tags:
        chunk_pixels = _tag(tags, _TILE_WIDTH, width) * _tag(tags, _TILE_LENGTH, height)
    else:
        chunk_pixels = width * min(height, _tag(tags, _ROWS_PER_STRIP, height))
    bits = tags.get(_BITS_PER_SAMPLE, 8)  # one value per sample, or one for all
    if isinstance(bits, tuple) and all(isinstance(b, int) for b in bits):
        raw_bits = sum(bits)
    else:
        raw_bits = _tag(tags, _BITS_PER_SAMPLE, 32) * _tag(tags, _SAMPLES_PER_PIXEL, 4)
    rgba = tags.get(_COMPRESSION) == _OLD_JPEG or (
        tags.get(_PHOTOMETRIC) == _YCBCR and tags.get(_COMPRESSION) != _JPEG
    )
    return chunk_pixels * ((raw_bits + 7) // 8 + (4 if rgba else 0))


def _tag(tags: Any, tag: int, worst: int) -> int:
    """A TIFF tag's positive integer value, or `worst` when it is missing or malformed."""
    value = tags.get(tag)
    return value if isinstance(value, int) and value > 0 else worst


def _depth_and_chroma(image: Image.Image, data: bytes) -> tuple[bool, bool]:
    """(more than 8 bits a sample, no chroma subsampling) of a HEIF or AVIF; the worst if unknown."""
    if image.format == "HEIF":
        return image.info.get("bit_depth", 16) > 8, image.info.get("chroma", 444) == 444
    if image.format == "AVIF":
        return headers.av1_depth_and_chroma(data)
    return True, True
