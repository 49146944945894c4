"""Images generated for the thumbnail tests: cards of known colours, photo-like noise, ICC profiles."""

from __future__ import annotations

import io
import math
import random
import struct
import zlib
from pathlib import Path
from typing import cast

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageStat

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
ORIENTATION = 0x0112

# A card of four quadrants: top-left, top-right, bottom-left, bottom-right.
QUADRANTS = ((220, 40, 40), (40, 180, 60), (50, 70, 200), (230, 210, 60))

# The transpose that shows a stored image upright, per EXIF orientation; each one's inverse
# stores an upright image so that the orientation tag is needed to show it upright again.
SHOW = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_INVERSE = {
    Image.Transpose.ROTATE_270: Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_90: Image.Transpose.ROTATE_270,
}


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    """`image` saved in `fmt` with `options`, as bytes."""
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    """The image encoded in `data`, loaded."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def card(size: tuple[int, int] = (400, 300)) -> Image.Image:
    """An RGB card of the four QUADRANTS colours."""
    image = Image.new("RGB", size)
    width, height = size
    draw = ImageDraw.Draw(image)
    for index, colour in enumerate(QUADRANTS):
        x, y = index % 2, index // 2
        draw.rectangle(
            (x * width // 2, y * height // 2, (x + 1) * width // 2, (y + 1) * height // 2), fill=colour
        )
    return image


def quadrant_colours(image: Image.Image) -> list[tuple[int, ...]]:
    """The colour at the centre of each quadrant of `image`, in QUADRANTS order."""
    width, height = image.size
    rgb = image.convert("RGB")
    centres = [((2 * (i % 2) + 1) * width // 4, (2 * (i // 2) + 1) * height // 4) for i in range(4)]
    return [cast("tuple[int, ...]", rgb.getpixel(centre)) for centre in centres]


def close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int) -> bool:
    """Whether every channel of `actual` is within `tolerance` of `expected`."""
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def stored(upright: Image.Image, orientation: int) -> Image.Image:
    """The pixels a camera stores for `upright` when it tags them with `orientation`."""
    if orientation == 1:
        return upright.copy()
    show = SHOW[orientation]
    return upright.transpose(_INVERSE.get(show, show))


def orientation_exif(orientation: int) -> Image.Exif:
    """EXIF holding only an orientation tag."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif


def photo_like(size: tuple[int, int], seed: int) -> Image.Image:
    """A deterministic photo-like RGB image: colour fields, shapes, thin lines and mild grain."""
    rng = random.Random(seed)
    width, height = size
    field = Image.new("RGB", (6, 5))
    field.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(30)])
    image = field.resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = rng.randrange(width), rng.randrange(height)
        box = (x, y, x + rng.randrange(width // 20, width // 3), y + rng.randrange(height // 20, height // 3))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    for _ in range(300):
        x, y = rng.randrange(width), rng.randrange(height)
        end = (x + rng.randrange(-width // 10, width // 10), y + rng.randrange(-height // 10, height // 10))
        draw.line((x, y, *end), fill=(rng.randrange(256), 0, rng.randrange(256)), width=rng.randrange(1, 4))
    image = image.filter(ImageFilter.BoxBlur(1))
    # Grain: uniform noise of +-6 around 128, tiled from a seeded square.
    tile = Image.frombytes("L", (509, 509), rng.randbytes(509 * 509)).point(lambda v: 122 + v * 13 // 256)
    grain = Image.new("L", size)
    for y in range(0, height, 509):
        for x in range(0, width, 509):
            grain.paste(tile, (x, y))
    return ImageChops.add(image, Image.merge("RGB", (grain, grain, grain)), offset=-128)


def psnr(image: Image.Image, reference: Image.Image) -> float:
    """Peak signal-to-noise ratio of `image` against `reference`, in dB."""
    stat = ImageStat.Stat(ImageChops.difference(image, reference))
    mse = sum(stat.sum2) / (len(stat.sum2) * image.width * image.height)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def png_header(width: int, height: int, colour_type: int = 0) -> bytes:
    """A tiny PNG announcing `width` x `height` 8-bit pixels (gray; 2: RGB): a decompression bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


# --- ICC profiles written by hand (ICC v2 matrix/TRC), so tests need no profile files ----------

D50 = (0.9642, 1.0, 0.8249)
SRGB_PRIMARIES = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))


def rgb_profile(primaries: tuple[tuple[float, float, float], ...], gamma: float, name: str) -> bytes:
    """An RGB display profile of the given D50 primaries (red, green, blue) and gamma."""
    red, green, blue = primaries
    tags = [(b"desc", _desc(name)), (b"wtpt", _xyz(D50)), (b"rXYZ", _xyz(red)), (b"gXYZ", _xyz(green))]
    tags += [
        (b"bXYZ", _xyz(blue)),
        (b"rTRC", _curve(gamma)),
        (b"gTRC", _curve(gamma)),
        (b"bTRC", _curve(gamma)),
    ]
    return _profile(b"RGB ", tags)


def gray_profile(gamma: float, name: str) -> bytes:
    """A gray display profile of the given gamma."""
    return _profile(b"GRAY", [(b"desc", _desc(name)), (b"wtpt", _xyz(D50)), (b"kTRC", _curve(gamma))])


def _profile(space: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    """An ICC v2.1 display profile from its colour space and tags."""
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table, data = struct.pack(">I", len(tags)), b""
    for signature, body in tags:
        body += b"\x00" * (-len(body) % 4)
        table += struct.pack(">4sII", signature, offset + len(data), len(body))
        data += body
    size = 128 + table_size + len(data)
    header = struct.pack(
        ">I4sI4s4s4s12s4s4sI4s4s8sI",
        size,
        b"lcms",
        0x02100000,
        b"mntr",
        space,
        b"XYZ ",
        b"\x00" * 12,
        b"acsp",
        b"APPL",
        0,
        b"\x00" * 4,
        b"\x00" * 4,
        b"\x00" * 8,
        0,
    )
    header += _fixed(D50) + b"\x00" * 4 + b"\x00" * 16 + b"\x00" * 28
    assert len(header) == 128
    return header + table + data


def _fixed(values: tuple[float, ...]) -> bytes:
    """s15Fixed16 numbers."""
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def _xyz(values: tuple[float, float, float]) -> bytes:
    """An XYZType tag."""
    return b"XYZ " + b"\x00" * 4 + _fixed(values)


def _curve(gamma: float) -> bytes:
    """A curveType tag holding one gamma value."""
    return b"curv" + b"\x00" * 4 + struct.pack(">IH", 1, round(gamma * 256))


def _desc(text: str) -> bytes:
    """A v2 textDescriptionType tag."""
    ascii_text = text.encode("ascii") + b"\x00"
    return (
        b"desc"
        + b"\x00" * 4
        + struct.pack(">I", len(ascii_text))
        + ascii_text
        + b"\x00" * 8
        + b"\x00" * 3
        + b"\x00" * 67
    )
