"""The thumbnailers compared: ours, pyvips (the baseline), naive Pillow, and decoding alone (the floor).

Each takes the bytes of a photo and returns the encoded thumbnail, as the worker would need it.
`*_pixels` variants return the image before encoding, for PSNR.
"""

from __future__ import annotations

import io
import os

# libvips reads its thread count at start-up; 1 matches our single-threaded function, and the
# suite times libvips' own default (one thread per core) too, taking the faster as the baseline.
os.environ.setdefault("VIPS_CONCURRENCY", "1")

import pyvips
from PIL import Image, ImageCms

from pipeline import thumbnail

pyvips.cache_set_max(0)  # the operation cache would answer repeated calls on one file from memory

MAX_SIZE = 320
QUALITY = 85


def ours(data: bytes) -> bytes:
    """`pipeline.thumbnail.make_thumbnail`, what the worker runs."""
    return thumbnail.make_thumbnail(data, max_size=MAX_SIZE, quality=QUALITY).data


def ours_pixels(data: bytes) -> Image.Image:
    """Our thumbnail before encoding."""
    return thumbnail.thumbnail_image(data, max_size=MAX_SIZE)


def pyvips_threads(count: int) -> None:
    """Set libvips' worker threads per image (1, or the core count as libvips does by default)."""
    pyvips.concurrency_set(count)


def vips(data: bytes) -> bytes:
    """libvips' thumbnail_buffer (shrink-on-load, EXIF rotation, ICC import to sRGB), then encode."""
    image = pyvips.Image.thumbnail_buffer(data, MAX_SIZE, height=MAX_SIZE, size="down")
    if image.hasalpha():
        return bytes(image.webpsave_buffer(Q=QUALITY, keep="none"))
    return bytes(image.jpegsave_buffer(Q=QUALITY, interlace=True, keep="none"))


def vips_pixels(data: bytes) -> Image.Image:
    """libvips' thumbnail before encoding."""
    image = pyvips.Image.thumbnail_buffer(data, MAX_SIZE, height=MAX_SIZE, size="down")
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[image.bands]
    return Image.frombytes(mode, (image.width, image.height), image.write_to_memory())


def naive(data: bytes) -> bytes:
    """Pillow without shortcuts: full decode, LANCZOS resize, encode."""
    image: Image.Image = Image.open(io.BytesIO(data))
    has_alpha = image.has_transparency_data
    image = image.convert("RGBA" if has_alpha else "RGB")
    image = image.resize(thumbnail.fit_within(image.size, MAX_SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if has_alpha:
        image.save(out, "WEBP", quality=QUALITY)
    else:
        image.save(out, "JPEG", quality=QUALITY, progressive=True)
    return out.getvalue()


def floor(data: bytes) -> tuple[int, int]:
    """Decoding alone, at the reduced DCT scale our function picks for JPEG (full size otherwise).

    The image is closed at once, as our function does, so both free their pixels alike.
    """
    with Image.open(io.BytesIO(data)) as image:
        if image.format == "JPEG":
            scale = thumbnail.dct_scale(image.size, thumbnail.fit_within(image.size, MAX_SIZE))
            image.draft(None, (image.width // scale, image.height // scale))
        image.load()
        return image.size


def reference(data: bytes, size: tuple[int, int]) -> Image.Image:
    """Full decode (through the embedded ICC profile for CMYK), then LANCZOS to `size`: the PSNR reference."""
    image: Image.Image = Image.open(io.BytesIO(data))
    if image.mode == "CMYK":
        profile = ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        converted = ImageCms.profileToProfile(
            image, profile, srgb, renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode="RGB"
        )
        assert converted is not None
        image = converted
    image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    return image.resize(size, Image.Resampling.LANCZOS)
