"""pipeline/placeholder.py: our ThumbHash encoder gives the reference's bytes; the dominant colour is sound."""

from __future__ import annotations

import base64
import math
import re
from pathlib import Path

import pytest
import thumbhash
from PIL import Image, ImageDraw, ImageOps

from pipeline.placeholder import Placeholder, dominant_color, make_placeholder, shrink, thumbhash_bytes

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
OPAQUE_CORPUS = [
    "flower.jpg",
    "hopper.jpg",
    "hopper_orientation_3.jpg",
    "hopper_orientation_6.jpg",
    "hopper_orientation_8.jpg",
    "iss634.gif",
    "pil_sample_cmyk.jpg",
]


def _rendition(name: str) -> Image.Image:
    """A corpus file as the pipeline hands it over: upright, RGB(A), at most 160 px."""
    with Image.open(CORPUS / name) as source:
        image = ImageOps.exif_transpose(source)
        image = image.convert("RGBA" if image.mode == "RGBA" else "RGB")
    image.thumbnail((160, 160))
    return image


def _gradient(width: int, height: int) -> Image.Image:
    """An RGBA image whose colour and alpha vary along both axes, with no symmetry to cancel terms."""
    top = max(1, (width - 1) ** 2 + 2 * (height - 1) ** 2)
    pixels = bytes(
        value
        for y in range(height)
        for x in range(width)
        for value in (8 * x % 256, 5 * y % 256, (200 - 3 * x) % 256, (x * x + 2 * y * y) * 255 // top)
    )
    return Image.frombytes("RGBA", (width, height), pixels)


def _package_hash(image: Image.Image, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """The PyPI `thumbhash` package's bytes for `image`, with the reference's rounding.

    The package rounds with Python's `round` (halves to even) where the reference JavaScript
    uses Math.round (halves up); on an exact half (a 1x1 image's 52.5) they part. Its module
    global `round` is replaced by Math.round's rule so the comparison is of the algorithm.
    """
    monkeypatch.setattr(thumbhash, "round", lambda value: math.floor(value + 0.5), raising=False)
    rgba = image.convert("RGBA")
    return bytes(thumbhash.rgba_to_thumb_hash(rgba.width, rgba.height, list(rgba.tobytes())))


def _opaque_synthetic() -> dict[str, Image.Image]:
    gray = Image.linear_gradient("L")
    return {
        "1x1": Image.new("RGB", (1, 1), (200, 30, 60)),
        "1x200": gray.resize((1, 200)).convert("RGB"),
        "200x1": gray.resize((1, 200)).rotate(90, expand=True).convert("RGB"),
        "solid": Image.new("RGB", (40, 30), (10, 200, 30)),
        "gray L": gray.resize((90, 60)),
        "640 px": gray.resize((640, 480)).convert("RGB"),
    }


@pytest.mark.parametrize("name", OPAQUE_CORPUS)
def test_corpus_hashes_equal_the_pypi_package_given_the_same_small_image(name, monkeypatch):
    small = shrink(_rendition(name))
    assert thumbhash_bytes(small) == _package_hash(small, monkeypatch)


@pytest.mark.parametrize("name", list(_opaque_synthetic()))
def test_synthetic_hashes_equal_the_pypi_package_given_the_same_small_image(name, monkeypatch):
    small = shrink(_opaque_synthetic()[name])
    assert thumbhash_bytes(small) == _package_hash(small, monkeypatch)


# The PyPI package cannot encode alpha (0.1.2 raises TypeError on any non-opaque pixel: its
# `a_dc, a_ac, a_scale = ... if has_alpha else 1.0, [], 1.0` builds a tuple), so images with
# alpha are checked against bytes from the reference itself: evanw's `rgbaToThumbHash` (npm
# thumbhash 0.1.1) run under Node 20 on the same pixels (no resampling, so no Pillow version enters).
REFERENCE_ALPHA = {
    "pil123rgba.png crop": "8a19861d0429df13bd47543676dfbd94f48d2f76786663c687",
    "gradient 48x32": "9a07861384250eb881898a60d479f15590878188897888",
    "gradient 1x60": "dbf3b80943550888778878f788777f8808f7838c897688",
    "gradient 60x1": "1118a319c4558887888870f38875880893878888c076f8",
    "all transparent": "00088204800000000000000000000000000000000000000000",
    "1x1 half": "9859b375548808f78887707ff8088880800808f78887707ff8",
}


def _alpha_input(name: str) -> Image.Image:
    if name == "pil123rgba.png crop":
        with Image.open(CORPUS / "pil123rgba.png") as source:
            return source.convert("RGBA").crop((30, 20, 130, 120))
    if name.startswith("gradient"):
        width, height = map(int, name.split()[1].split("x"))
        return _gradient(width, height)
    if name == "all transparent":
        return Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    return Image.new("RGBA", (1, 1), (200, 30, 60, 128))


@pytest.mark.parametrize("name", list(REFERENCE_ALPHA))
def test_alpha_hashes_equal_the_reference_javascript(name):
    assert thumbhash_bytes(_alpha_input(name)).hex() == REFERENCE_ALPHA[name]


def test_an_opaque_rgba_image_is_hashed_without_alpha():
    rgba = _rendition("flower.jpg").convert("RGBA")
    assert thumbhash_bytes(shrink(rgba)) == thumbhash_bytes(shrink(rgba.convert("RGB")))


def test_the_placeholder_carries_unpadded_base64_of_the_hash_and_a_lowercase_colour():
    image = _rendition("pil123rgba.png")
    placeholder = make_placeholder(image)
    assert isinstance(placeholder, Placeholder)
    assert not placeholder.thumbhash.endswith("=")
    padded = placeholder.thumbhash + "=" * (-len(placeholder.thumbhash) % 4)
    assert base64.b64decode(padded, validate=True) == thumbhash_bytes(shrink(image))
    assert re.fullmatch(r"#[0-9a-f]{6}", placeholder.color)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA"])
@pytest.mark.parametrize("size", [(1, 1), (160, 120), (120, 160), (640, 480)])
def test_every_expected_mode_and_size_gives_a_placeholder(mode, size):
    placeholder = make_placeholder(Image.new(mode, size))
    assert placeholder.thumbhash
    assert re.fullmatch(r"#[0-9a-f]{6}", placeholder.color)


def _close(color: str, expected: tuple[int, int, int], tolerance: int = 12) -> bool:
    channels = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return all(abs(c - e) <= tolerance for c, e in zip(channels, expected, strict=True))


def test_a_mostly_red_image_with_a_blue_square_is_red():
    image = Image.new("RGB", (160, 120), (220, 30, 40))
    ImageDraw.Draw(image).rectangle((20, 20, 70, 70), fill=(20, 40, 230))
    assert _close(dominant_color(shrink(image)), (220, 30, 40))


def test_a_transparent_image_takes_its_colour_from_its_opaque_pixels_only():
    image = Image.new("RGBA", (160, 120), (0, 255, 0, 0))  # invisible green all around
    ImageDraw.Draw(image).rectangle((60, 40, 100, 80), fill=(250, 200, 0, 255))
    ImageDraw.Draw(image).rectangle((0, 0, 159, 10), fill=(0, 0, 255, 60))  # a faint blue band
    assert _close(make_placeholder(image).color, (250, 200, 0))


def test_a_wholly_transparent_image_says_black():
    assert make_placeholder(Image.new("RGBA", (50, 50), (255, 255, 255, 0))).color == "#000000"


def test_a_gray_image_gives_a_gray():
    assert _close(make_placeholder(Image.new("L", (160, 120), 128)).color, (128, 128, 128), tolerance=0)


def test_the_placeholder_is_deterministic():
    image = _rendition("flower.jpg")
    assert {make_placeholder(image) for _ in range(3)} == {make_placeholder(image)}
