"""Colour handling for thumbnails: every mode a decoder gives becomes 8-bit sRGB (or gray).

Two halves, used on either side of the resize:
- `resizable()` runs on the decoded image and only changes what cannot be resampled as it is
  (palettes, 1-bit, 16-bit): most photos pass through untouched, so nothing full-size is copied.
- `to_srgb()` runs on the small image: the ICC conversion costs ~0.3 ms at 320 px against
  hundreds at 12 MP, and the lcms transform (~20 ms to build) is cached per profile.
"""

from __future__ import annotations

import functools
import hashlib
import io
import threading
from collections import OrderedDict
from pathlib import Path

from PIL import Image, ImageCms

# CMYK without an embedded profile is read through a generic press profile (FOGRA39, coated
# offset paper, the usual European default); see pipeline/icc/README.md for its origin and licence.
DEFAULT_CMYK_PROFILE = Path(__file__).with_name("icc") / "GenericCMYK-FOGRA39L.icc"

# Perceptual maps the darkest printable black to sRGB black; relative colorimetric would leave
# a rich CMYK black dark grey (32, 34, 31). For matrix RGB profiles the two are the same.
_INTENT = ImageCms.Intent.PERCEPTUAL
# lcms2 >= 2.3 copies its one-pixel cache per call; NOCACHE makes sharing one transform between
# worker threads safe whatever lcms build Pillow brings (that cache only speeds up runs of
# identical pixels, which photos seldom have).
_FLAGS = ImageCms.Flags.NOCACHE

_ICC_SPACE_FOR_MODE = {"RGB": "RGB", "RGBA": "RGB", "CMYK": "CMYK", "L": "GRAY", "LA": "GRAY"}
_AS_IS = frozenset({"RGB", "RGBA", "L", "LA", "CMYK", "YCbCr", "LAB"})
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})

_CACHE_SIZE = 32
_cache: OrderedDict[tuple[bytes, str, str], ImageCms.ImageCmsTransform | None] = OrderedDict()
_cache_lock = threading.Lock()


def resizable(image: Image.Image) -> Image.Image:
    """`image` in a mode that resamples correctly, converting only the modes that need it."""
    mode = image.mode
    if mode in ("RGB", "L") and "transparency" in image.info:
        return image.convert("RGBA" if mode == "RGB" else "LA")  # a PNG tRNS colour key
    if mode in _AS_IS:
        return image
    if mode in _SIXTEEN_BIT:
        # Resampled at full depth; `to_eight_bit` scales the small result to 8 bits afterwards.
        return image if mode in ("I;16", "I") else image.convert("I")
    if mode == "P":
        has_alpha = "transparency" in image.info or (
            image.palette is not None and image.palette.mode == "RGBA"
        )
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode == "1":
        return image.convert("L")
    if mode == "F":
        return image  # 32-bit float gray (TIFF): resampled as it is, scaled by `to_eight_bit`
    return image.convert("RGBA" if mode in ("PA", "RGBa", "La") else "RGB")


def to_eight_bit(image: Image.Image) -> Image.Image:
    """A 16-bit gray image scaled to 8 bits (65535 becomes 255), not clipped as convert('L') does.

    32-bit float gray is taken to hold 0.0-1.0, as image editors write it.
    """
    if image.mode == "F":
        return image.point(lambda value: value * 255).convert("L")
    if image.mode not in _SIXTEEN_BIT:
        return image
    wide = image if image.mode == "I" else image.convert("I")
    return wide.point(lambda value: value / 257).convert("L")


def to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """`image` converted through its ICC profile (or the default CMYK one) to sRGB, RGB/RGBA/L/LA."""
    image = to_eight_bit(image)
    if image.mode == "YCbCr":
        image = image.convert("RGB")
    if image.mode == "LAB":
        return _apply(image, _lab_to_srgb(), "RGB")
    if image.mode == "CMYK":
        transform = _transform(icc_profile, "CMYK", "RGB") if icc_profile else None
        return _apply(image, transform or _default_cmyk_to_srgb(), "RGB")
    if not icc_profile or image.mode not in _ICC_SPACE_FOR_MODE:
        return image
    if image.mode in ("L", "LA"):
        return _gray_to_srgb(image, icc_profile)
    transform = _transform(icc_profile, image.mode, image.mode)
    return _apply(image, transform, image.mode) if transform else image


def _gray_to_srgb(image: Image.Image, icc_profile: bytes) -> Image.Image:
    """Gray through its profile to sRGB and back to gray: neutral stays neutral, so no loss."""
    transform = _transform(icc_profile, "L", "RGB")
    if transform is None:
        return image
    gray = image.getchannel("L") if image.mode == "LA" else image
    converted = _apply(gray, transform, "RGB").convert("L")
    if image.mode == "LA":
        converted = Image.merge("LA", (converted, image.getchannel("A")))
    return converted


def _apply(image: Image.Image, transform: ImageCms.ImageCmsTransform, out_mode: str) -> Image.Image:
    """Run `transform` into a new image; lcms copies the alpha channel when both modes have one."""
    out = Image.new(out_mode, image.size)
    transform.apply(image, out)
    out.info.clear()  # apply() tags the output with the sRGB profile; the encoder decides that
    return out


def _transform(icc_profile: bytes, in_mode: str, out_mode: str) -> ImageCms.ImageCmsTransform | None:
    """The cached lcms transform from `icc_profile` to sRGB, or None if the profile is unusable.

    Photos from one camera or phone share a profile, so each build (~20 ms) is paid once per
    process. The cache is keyed on a digest, not the bytes, so it holds no profile (a JPEG may
    embed megabytes). An unusable or mismatched profile (CMYK on an RGB image) is ignored
    rather than failing the photo; that answer is cached too.
    """
    key = (hashlib.blake2b(icc_profile, digest_size=16).digest(), in_mode, out_mode)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    transform = _build(icc_profile, in_mode, out_mode)  # outside the lock: other threads go on
    with _cache_lock:
        _cache[key] = transform
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return transform


def _build(icc_profile: bytes, in_mode: str, out_mode: str) -> ImageCms.ImageCmsTransform | None:
    """A new transform from `icc_profile` to sRGB, or None if the profile cannot serve `in_mode`."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if profile.profile.xcolor_space.strip() != _ICC_SPACE_FOR_MODE[in_mode]:
            return None
        return ImageCms.buildTransform(profile, _srgb(), in_mode, out_mode, _INTENT, _FLAGS)
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError):
        return None


@functools.cache
def _srgb() -> ImageCms.ImageCmsProfile:
    """lcms' built-in sRGB profile, the colour space of every thumbnail."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@functools.cache
def _default_cmyk_to_srgb() -> ImageCms.ImageCmsTransform:
    """The transform for CMYK images that carry no (usable) profile of their own."""
    profile = ImageCms.ImageCmsProfile(str(DEFAULT_CMYK_PROFILE))
    return ImageCms.buildTransform(profile, _srgb(), "CMYK", "RGB", _INTENT, _FLAGS)


@functools.cache
def _lab_to_srgb() -> ImageCms.ImageCmsTransform:
    """The transform for CIE L*a*b* images (some TIFFs)."""
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB"))
    return ImageCms.buildTransform(lab, _srgb(), "LAB", "RGB", _INTENT, _FLAGS)
