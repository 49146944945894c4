"""A photo's placeholder: its ThumbHash and its dominant colour, from a small upright sRGB rendition.

The ThumbHash is Evan Wallace's (https://evanw.github.io/thumbhash/), encoded byte for byte as the
reference `rgbaToThumbHash` does, in pure Python fast enough to run on every photo (~1 ms; the
pure-Python packages on PyPI take 9-49 ms). Three things make it fast without changing the result:
- the input is shrunk to `ENCODE_SIZE` px first: the hash keeps a 7x7 DCT at most, which 32 px
  resolve nearly as well as the reference's 100 (on the corpus one to three 4-bit terms move by
  one step; the decoded placeholders differ by 9/255 at most), at a fifth of the pixels;
- the DCT sums are separable (a row sum per x frequency, then a column sum per y frequency) over
  cached cosine tables, with `sum(map(operator.mul, ...))` doing the arithmetic in C;
- the per-pixel float arithmetic mirrors the reference's operation for operation.
The separable sums add in another order than the reference's single running sum, which changes
the last bits of a coefficient. That only changes a byte when a value sits within rounding noise
of a quantisation step, or when a channel is flat and its AC terms are rounding noise themselves
(a solid colour): `_fragile` spots both and the channel is summed again in the reference's order.
Python 3.11's `sum()` adds floats in order like JavaScript; 3.12's compensated `sum()` would not.
"""

from __future__ import annotations

import base64
import functools
import math
from dataclasses import dataclass
from itertools import repeat
from operator import add, mul, sub

from PIL import Image

ENCODE_SIZE = 32  # the longest side the hash is computed at
MIN_OPAQUE = 128  # the alpha from which a pixel counts for the dominant colour
PALETTE_SIZE = 5
_BY_255 = 1 / 255
_UNIT = [_BY_255 * v for v in range(256)]  # the reference's `alpha / 255 * value` when opaque


@dataclass(frozen=True)
class Placeholder:
    """What a page shows before the thumbnail arrives.

    `thumbhash` is standard base64 of the ThumbHash bytes with the `=` padding stripped, as the
    ThumbHash reference site prints it (decoders add it back); `color` is "#rrggbb", lowercase.
    """

    thumbhash: str
    color: str


def make_placeholder(image: Image.Image) -> Placeholder:
    """The placeholder of `image`, a small rendition already upright and in sRGB."""
    small = shrink(image)
    hash_bytes = thumbhash_bytes(small)
    return Placeholder(
        thumbhash=base64.b64encode(hash_bytes).decode("ascii").rstrip("="),
        color=dominant_color(small),
    )


def shrink(image: Image.Image) -> Image.Image:
    """`image` as RGB or RGBA, at most `ENCODE_SIZE` px on its longest side (never enlarged)."""
    width, height = image.size
    longest = max(width, height)
    if longest > ENCODE_SIZE:
        size = (max(1, round(width * ENCODE_SIZE / longest)), max(1, round(height * ENCODE_SIZE / longest)))
        # BOX averages whole source pixels (Pillow premultiplies alpha while resampling).
        image = image.resize(size, Image.Resampling.BOX)
    if image.mode in ("RGB", "RGBA"):
        return image
    has_alpha = image.mode in ("LA", "La", "RGBa", "PA") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _round(value: float) -> int:
    """JavaScript's Math.round (halves go up), which the reference uses; Python's `round` halves to even."""
    whole = math.floor(value)
    return whole + 1 if value - whole >= 0.5 else whole


def _near_half(value: float) -> bool:
    """Whether `value` is close enough to a rounding step for summation order to decide it."""
    return abs(value - math.floor(value) - 0.5) < 1e-9


@functools.lru_cache(maxsize=64)
def _cosines(size: int, count: int) -> tuple[tuple[float, ...], ...]:
    """The reference's DCT factors cos(pi / size * c * (i + 0.5)), for c < count and i < size."""
    return tuple(tuple(math.cos(math.pi / size * c * (i + 0.5)) for i in range(size)) for c in range(count))


def _frequencies(nx: int, ny: int) -> list[tuple[int, int]]:
    """The (cx, cy) pairs the reference keeps, in its order: a triangle, DC first."""
    return [(cx, cy) for cy in range(ny) for cx in range(nx) if cx * ny < nx * (ny - cy)]


def _dct(channel: list[float], width: int, height: int, nx: int, ny: int, exact: bool) -> list[float]:
    """The channel's DCT coefficients, separable (fast) or in the reference's summation order."""
    fxs, fys, count = _cosines(width, nx), _cosines(height, ny), width * height
    pairs = _frequencies(nx, ny)
    if exact:
        # One running sum of channel * fx * fy over every pixel, row by row, as the reference does.
        return [
            sum(map(mul, map(mul, channel, fxs[cx] * height), [f for f in fys[cy] for _ in range(width)]))
            / count
            for cx, cy in pairs
        ]
    rows = [channel[i : i + width] for i in range(0, count, width)]
    row_sums = [[sum(map(mul, row, fx)) for row in rows] for fx in fxs]
    return [sum(map(mul, row_sums[cx], fys[cy])) / count for cx, cy in pairs]


def _encode_channel(
    channel: list[float],
    size: tuple[int, int],
    n: tuple[int, int],
    dc_step: float,
    dc_base: float,
    scale_step: int,
) -> tuple[float, list[float], float]:
    """DC, normalised AC terms and scale of one channel, as the reference's `encodeChannel`.

    `dc_base + dc_step * dc` and `scale_step * scale` are what the header rounds: checked with the
    AC terms for values that summation order could tip (see the module docstring).
    """
    for exact in (False, True):
        dc, *ac = _dct(channel, *size, *n, exact=exact)
        scale = max(map(abs, ac), default=0.0)
        if scale:
            ac = [0.5 + 0.5 / scale * f for f in ac]
        fragile = scale < 1e-9 or any(
            map(_near_half, [dc_base + dc_step * dc, scale_step * scale, *(15 * f for f in ac)])
        )
        if exact or not fragile or not any(channel):
            break  # an all-zero channel gives exact zeros in any order
    return dc, ac, scale


def _lpqa(image: Image.Image) -> tuple[list[float], list[float], list[float], list[float] | None]:
    """Luminance, yellow-blue, red-green and alpha per pixel, composited atop the average colour.

    Alpha is None when every pixel is opaque: the reference encodes it only when one is not.
    """
    bands = [band.tobytes() for band in image.split()]
    red, green, blue = bands[:3]
    if len(bands) == 4 and min(bands[3]) < 255:
        alpha = [v / 255 for v in bands[3]]
        weight = [a / 255 for a in alpha]
        total = sum(alpha)
        averages = [sum(map(mul, weight, band)) for band in (red, green, blue)]
        if total:
            averages = [value / total for value in averages]
        clear = [1 - a for a in alpha]
        r, g, b = (
            list(map(add, map(mul, repeat(avg), clear), map(mul, weight, band)))
            for avg, band in zip(averages, (red, green, blue), strict=True)
        )
    else:
        alpha = None
        r, g, b = (list(map(_UNIT.__getitem__, band)) for band in (red, green, blue))
    red_green = list(map(add, r, g))
    luminance = [s / 3 for s in map(add, red_green, b)]
    yellow_blue = [s / 2 - v for s, v in zip(red_green, b, strict=True)]
    return luminance, yellow_blue, list(map(sub, r, g)), alpha


def thumbhash_bytes(image: Image.Image) -> bytes:
    """The ThumbHash of `image` (RGB or RGBA, at most 100 px a side) as the reference encodes it."""
    width, height = image.size
    if width > 100 or height > 100:
        raise ValueError(f"{width}x{height} does not fit in 100x100")
    size = (width, height)
    luminance, yellow_blue, red_green, alpha = _lpqa(image)
    limit = 7 if alpha is None else 5  # fewer luminance terms when alpha needs the room
    lx = max(1, _round(limit * width / max(width, height)))
    ly = max(1, _round(limit * height / max(width, height)))
    l_dc, l_ac, l_scale = _encode_channel(luminance, size, (max(3, lx), max(3, ly)), 63, 0, 31)
    p_dc, p_ac, p_scale = _encode_channel(yellow_blue, size, (3, 3), 31.5, 31.5, 63)
    q_dc, q_ac, q_scale = _encode_channel(red_green, size, (3, 3), 31.5, 31.5, 63)
    landscape = width > height
    header24 = (
        _round(63 * l_dc)
        | _round(31.5 + 31.5 * p_dc) << 6
        | _round(31.5 + 31.5 * q_dc) << 12
        | _round(31 * l_scale) << 18
        | (alpha is not None) << 23
    )
    header16 = (
        (ly if landscape else lx) | _round(63 * p_scale) << 3 | _round(63 * q_scale) << 9 | landscape << 15
    )
    out = [header24 & 255, header24 >> 8 & 255, header24 >> 16, header16 & 255, header16 >> 8]
    terms = [*l_ac, *p_ac, *q_ac]
    if alpha is not None:
        a_dc, a_ac, a_scale = _encode_channel(alpha, size, (5, 5), 15, 0, 15)
        out.append(_round(15 * a_dc) | _round(15 * a_scale) << 4)
        terms += a_ac
    nibbles = [_round(15 * f) for f in terms] + [0]  # two per byte, low first; a lone last one
    out += [low | high << 4 for low, high in zip(nibbles[0:-1:2], nibbles[1::2], strict=True)]
    return bytes(value & 255 for value in out)


def dominant_color(image: Image.Image) -> str:
    """The most common colour of `image` (small, RGB or RGBA) as "#rrggbb", from its opaque pixels.

    Median cut into `PALETTE_SIZE` colours, then the entry covering the most pixels: a flat area
    stays one box, so a red field with a blue square gives the field's red. Pixels less than half
    opaque are left out: once un-premultiplied their colour is mostly rounding, and they are what
    a page shows least. A wholly transparent image has no colour to give and says black.
    """
    rgb = image.convert("RGB")
    if image.mode == "RGBA":
        pixels = rgb.tobytes()
        keep = [i for i, a in enumerate(image.getchannel("A").tobytes()) if a >= MIN_OPAQUE]
        if not keep:
            return "#000000"
        rgb = Image.frombytes("RGB", (len(keep), 1), b"".join(pixels[3 * i : 3 * i + 3] for i in keep))
    quantized = rgb.quantize(colors=PALETTE_SIZE, method=Image.Quantize.MEDIANCUT)
    # A P image's colours are (count, palette index); ties go to the lower index.
    colours = quantized.getcolors(PALETTE_SIZE) or []
    counts = [(count, index) for count, index in colours if isinstance(index, int)] or [(1, 0)]
    _, index = max(counts, key=lambda entry: (entry[0], -entry[1]))
    palette = quantized.getpalette() or [0, 0, 0]
    red, green, blue = palette[3 * index : 3 * index + 3]
    return f"#{red:02x}{green:02x}{blue:02x}"
