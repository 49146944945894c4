"""Opening untrusted image bytes: an allow-list of decoders, the pixel limit, clear errors.

Every failure here is one of the domain errors, so a bad body fails its photo with a reason
and never crashes the worker: not an image (`NotAnImage`), an image we cannot decode
(`CorruptImage`), or one announcing more pixels than allowed (`ImageTooLarge`).
"""

from __future__ import annotations

import contextlib
import functools
import io
import struct
import threading
import zlib
from collections.abc import Iterator

from PIL import ExifTags, Image, PngImagePlugin, TiffImagePlugin, UnidentifiedImageError

from pipeline.errors import CorruptImage, ImageTooLarge, NotAnImage

# The only decoders hostile bytes can reach. Not ICO (favicons are no photos, and each of its
# entries is a BMP or PNG of its own), nor PDF, EPS, SVG or Pillow's many exotic formats.
# MPO (multi-picture JPEG from stereo and some phone cameras) opens through the JPEG entry.
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "AVIF", "HEIF", "TIFF", "BMP")

# Signatures of the allowed formats, so bytes that start like one of them but cannot be
# opened are reported as a corrupt image rather than as "not an image".
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF8", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
)
_ISOBMFF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}

# What Pillow and its plugins raise on data they cannot decode (found by fuzzing every allowed
# format: RuntimeError is how Pillow's AVIF plugin reports libavif failures). Anything else is
# a bug of ours and propagates as such instead of being filed as a bad photo.
DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    RuntimeError,
    struct.error,
    zlib.error,
)

# PNG text chunks Pillow keeps in `info` (we use none), in bytes: its own limit is 64 MB, memory
# that a small file of compressed text could take on top of the decode budget.
PNG_TEXT_BYTES = 8 << 20

_setup_lock = threading.Lock()


def open_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Open `data` (headers only, nothing decoded yet) and check its announced size."""
    _setup_pillow()
    if not data:
        raise NotAnImage("the body is empty")
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError:
        name = _looks_like(data)
        if name:
            raise CorruptImage(f"the {name} header cannot be read") from None
        raise NotAnImage(
            f"not an image in a format we read ({', '.join(ALLOWED_FORMATS)}); "
            f"the body starts with {data[:16]!r}"
        ) from None
    except DECODE_ERRORS as error:
        raise CorruptImage(
            f"the {_looks_like(data) or 'image'} header cannot be read: {str(error).strip()}"
        ) from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise CorruptImage(f"the {image.format} header announces an empty image ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"the {image.format} header announces {width}x{height} = {width * height:,} pixels, "
            f"more than the limit of {max_pixels:,}"
        )
    return image


@contextlib.contextmanager
def decoding(image: Image.Image) -> Iterator[None]:
    """Turn the decoders' own exceptions inside the block into `CorruptImage`."""
    try:
        yield
    except DECODE_ERRORS as error:
        raise CorruptImage(f"the {image.format} data cannot be decoded: {str(error).strip()}") from None


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8) of `image`, 1 when absent or unreadable.

    Malformed EXIF never fails a photo: whatever the parser raises means "no orientation".
    Some decoders apply the orientation themselves and then report 1: libheif (HEIC, through
    pillow-heif). Pillow's TIFF plugin would too, on the full-size image, unless
    `orientation_before_loading` took the tag out first. Pillow's AVIF plugin reports its
    irot/imir boxes as the EXIF orientation, which we apply.
    """
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def orientation_before_loading(image: Image.Image) -> int | None:
    """The orientation of a JPEG or TIFF (opened, not loaded); None for other formats, whose EXIF
    may come after the pixels: ask `exif_orientation` once they are loaded.

    A TIFF's orientation is also taken out of the image, so that Pillow's loader does not turn the
    full-size image (400 MB more at 100 MP): the thumbnail is turned instead, like any other.
    """
    if image.format in ("JPEG", "MPO"):
        return exif_orientation(image)
    if not isinstance(image, TiffImagePlugin.TiffImageFile):
        return None
    orientation = exif_orientation(image)
    # What the loader's exif_transpose reads: the cached EXIF (the tag, or XMP's tiff:Orientation).
    image.getexif().pop(ExifTags.Base.Orientation, None)
    if image.tag_v2.pop(ExifTags.Base.Orientation, None) in (5, 6, 7, 8):
        image._size = (image.height, image.width)  # open() announced it turned; it stays as stored
    return orientation


def _looks_like(data: bytes) -> str | None:
    """The name of the allowed format whose signature `data` starts with, if any."""
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            return name
    if data[8:12] == b"WEBP" and data.startswith(b"RIFF"):
        return "WEBP"
    if data[4:8] == b"ftyp" and data[8:12] in _ISOBMFF_BRANDS:
        return "AVIF" if data[8:12] in (b"avif", b"avis") else "HEIF"
    return None


def _setup_pillow() -> None:
    """Prepare Pillow once per process, on first use rather than at import.

    - Load Pillow's plugins under a lock: its own lazy `init()` is not meant to race.
    - Register pillow-heif's HEIF opener (Pillow has no HEIF decoder of its own).
    - Turn off Pillow's MAX_IMAGE_PIXELS check: `open_image` applies MAX_IMAGE_PIXELS from our
      configuration on the same header size, before any decoding, and raises our own error.
      Pillow's check would instead warn (an error under pytest) from 89 MP and refuse only from
      179 MP, whatever the limit was configured to. Setting it is process-wide but idempotent,
      and the worker opens images through this module only.
    - Lower Pillow's allowance for PNG text chunks to PNG_TEXT_BYTES (counted in the decode budget).
    """
    with _setup_lock:  # functools.cache alone would let two first calls run it at once
        _prepare_pillow()


@functools.cache
def _prepare_pillow() -> None:
    """What `_setup_pillow` does, once: the state it sets is Pillow's, process-wide, so the
    record that it is set is process-wide too (the cache of this function), not a global flag."""
    import pillow_heif  # imported here: it loads libheif, which only the worker needs

    Image.init()
    pillow_heif.register_heif_opener()
    Image.MAX_IMAGE_PIXELS = None
    PngImagePlugin.MAX_TEXT_MEMORY = PNG_TEXT_BYTES
