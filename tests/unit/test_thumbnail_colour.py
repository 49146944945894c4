"""Thumbnails are sRGB: embedded profiles are applied, CMYK is converted properly, gray stays gray."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageCms

from pipeline.colour import DEFAULT_CMYK_PROFILE
from pipeline.thumbnail import make_thumbnail, thumbnail_image
from tests.unit.thumbnail_images import (
    CORPUS,
    SRGB_PRIMARIES,
    close,
    decode,
    encode,
    gray_profile,
    rgb_profile,
)

# Colours inside the gamut of a coated press, so a trip through CMYK keeps them.
PATCHES = ((180, 90, 70), (90, 140, 100), (80, 100, 160), (128, 128, 128), (225, 190, 160), (60, 60, 60))


def patch_card() -> Image.Image:
    """A 600x100 sRGB card of six PATCHES side by side."""
    image = Image.new("RGB", (600, 100))
    for index, colour in enumerate(PATCHES):
        image.paste(colour, (index * 100, 0, index * 100 + 100, 100))
    return image


def patch_colours(image: Image.Image) -> list[tuple[int, ...]]:
    """The colour at the centre of each of the six patches of `image`."""
    step = image.width / 6
    return [image.getpixel((int(step * (i + 0.5)), image.height // 2)) for i in range(6)]  # type: ignore[misc]


def cmyk_jpeg(icc_profile: bytes | None) -> bytes:
    """The patch card converted to CMYK through the vendored press profile, as a JPEG."""
    press = ImageCms.ImageCmsProfile(str(DEFAULT_CMYK_PROFILE))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    cmyk = ImageCms.profileToProfile(patch_card(), srgb, press, outputMode="CMYK")
    assert cmyk is not None
    options = {"icc_profile": icc_profile} if icc_profile is not None else {}
    return encode(cmyk, "JPEG", quality=95, **options)


def test_a_cmyk_jpeg_is_converted_through_its_embedded_profile_to_srgb() -> None:
    """CMYK with its profile gives the sRGB colours it was made from, and no profile is left attached."""
    press_profile = DEFAULT_CMYK_PROFILE.read_bytes()

    thumbnail = make_thumbnail(cmyk_jpeg(press_profile))

    image = decode(thumbnail.data)
    assert thumbnail.format == "JPEG"
    assert image.mode == "RGB"
    assert "icc_profile" not in image.info
    for actual, expected in zip(patch_colours(image), PATCHES, strict=True):
        assert close(actual, expected, 12), (actual, expected)


@pytest.mark.parametrize(
    "embedded",
    [None, b"not a profile", rgb_profile(SRGB_PRIMARIES, 2.2, "an RGB profile on CMYK")],
    ids=["no profile", "an unreadable profile", "an RGB profile"],
)
def test_a_cmyk_jpeg_without_a_usable_profile_is_read_through_the_standard_cmyk_profile(
    embedded: bytes | None,
) -> None:
    """No profile, or one that cannot serve CMYK, falls back to the vendored standard press profile."""
    thumbnail = thumbnail_image(cmyk_jpeg(embedded))

    assert thumbnail.mode == "RGB"
    for actual, expected in zip(patch_colours(thumbnail), PATCHES, strict=True):
        assert close(actual, expected, 12), (actual, expected)


def test_the_corpus_cmyk_sample_keeps_its_red_and_its_black() -> None:
    """pil_sample_cmyk.jpg (Adobe CMYK, no profile): red text stays red, the rich black background black."""
    image = decode(make_thumbnail((CORPUS / "pil_sample_cmyk.jpg").read_bytes()).data)

    assert image.mode == "RGB"
    assert close(image.getpixel((0, 0)), (229, 34, 38), 20)  # type: ignore[arg-type]
    assert close(image.getpixel((99, 99)), (8, 15, 15), 15)  # type: ignore[arg-type]


def test_an_embedded_rgb_profile_is_applied() -> None:
    """Pixels tagged with a profile whose red and green primaries are swapped come out with them swapped."""
    swapped = rgb_profile(
        (SRGB_PRIMARIES[1], SRGB_PRIMARIES[0], SRGB_PRIMARIES[2]), 2.2, "swapped red and green"
    )
    data = encode(Image.new("RGB", (400, 300), (200, 40, 40)), "PNG", icc_profile=swapped)

    thumbnail = make_thumbnail(data)

    image = decode(thumbnail.data)
    assert "icc_profile" not in image.info
    assert close(image.getpixel((160, 120)), (40, 200, 40), 12)  # type: ignore[arg-type]


def test_the_colour_transform_is_built_once_per_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second photo with the same profile reuses the cached lcms transform (~20 ms to build)."""
    profile = rgb_profile(SRGB_PRIMARIES, 2.05, "a profile only this test uses")
    builds = []
    original = ImageCms.buildTransform

    def counting(*args: object, **kwargs: object) -> ImageCms.ImageCmsTransform:
        builds.append(args)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ImageCms, "buildTransform", counting)
    for colour in ((10, 20, 30), (200, 100, 50)):
        make_thumbnail(encode(Image.new("RGB", (64, 64), colour), "JPEG", icc_profile=profile))

    assert len(builds) == 1


def test_a_grayscale_photo_stays_grayscale_with_its_values() -> None:
    """An 8-bit gray JPEG gives a gray JPEG with the same levels."""
    gradient = Image.linear_gradient("L").resize((256, 256))

    thumbnail = make_thumbnail(encode(gradient, "JPEG", quality=95))

    image = decode(thumbnail.data)
    assert image.mode == "L"
    for y in (16, 128, 240):
        assert abs(image.getpixel((128, y)) - y) <= 3  # type: ignore[operator]


def test_a_gray_image_with_a_gray_profile_is_converted_and_stays_gray() -> None:
    """Gray tagged as linear light is re-encoded for sRGB: level 128 (linear 50 %) becomes 188."""
    data = encode(Image.new("L", (100, 100), 128), "PNG", icc_profile=gray_profile(1.0, "linear gray"))

    image = decode(make_thumbnail(data).data)

    assert image.mode == "L"
    assert abs(image.getpixel((50, 50)) - 188) <= 2  # type: ignore[operator]


def test_sixteen_bit_grayscale_is_scaled_to_eight_bits_not_clipped() -> None:
    """16-bit levels 65535, 32896 and 257 become 255, 128 and 1 (clipping would give 255, 255, 255)."""
    image = Image.new("I;16", (300, 100))
    for index, level in enumerate((65535, 32896, 257)):
        image.paste(level, (index * 100, 0, index * 100 + 100, 100))
    png = io.BytesIO()
    image.save(png, "PNG")

    thumbnail = decode(make_thumbnail(png.getvalue()).data)

    assert thumbnail.mode == "L"
    levels = [thumbnail.getpixel((x, 50)) for x in (50, 150, 250)]
    assert all(abs(a - b) <= 2 for a, b in zip(levels, (255, 128, 1), strict=True)), levels  # type: ignore[operator]


def test_float_grayscale_is_read_as_zero_to_one() -> None:
    """32-bit float gray TIFF (as image editors write it, 0.0-1.0): 0.5 becomes level 127 or 128."""
    data = encode(Image.new("F", (400, 300), 0.5), "TIFF")

    thumbnail = decode(make_thumbnail(data).data)

    assert thumbnail.mode == "L"
    assert abs(thumbnail.getpixel((160, 120)) - 127.5) <= 2  # type: ignore[operator]
