"""Transparency is kept (WebP out) and never turns black or white; opaque images give JPEG."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from pipeline.thumbnail import make_thumbnail, thumbnail_image
from tests.unit.thumbnail_images import CORPUS, close, decode, encode


def half_transparent(mode: str, opaque: tuple[int, ...], hidden: tuple[int, ...]) -> Image.Image:
    """A 400x300 image: left half `opaque`, right half `hidden` (alpha 0)."""
    image = Image.new(mode, (400, 300), hidden)
    image.paste(opaque, (0, 0, 200, 300))
    return image


def test_an_rgba_png_gives_a_webp_that_keeps_its_alpha() -> None:
    """Opaque pixels keep their colour and transparent ones stay transparent."""
    data = encode(half_transparent("RGBA", (30, 120, 200, 255), (0, 0, 0, 0)), "PNG")

    thumbnail = make_thumbnail(data)

    image = decode(thumbnail.data)
    assert (thumbnail.format, thumbnail.media_type, thumbnail.extension) == ("WEBP", "image/webp", ".webp")
    assert image.mode == "RGBA"
    assert close(image.getpixel((60, 120)), (30, 120, 200, 255), 8)  # type: ignore[arg-type]
    assert image.getpixel((260, 120))[3] == 0  # type: ignore[index]


@pytest.mark.parametrize(
    ("opaque", "hidden"),
    [((255, 0, 0, 255), (0, 0, 0, 0)), ((0, 0, 255, 255), (255, 255, 255, 0))],
    ids=["red beside transparent black", "blue beside transparent white"],
)
def test_edges_next_to_transparency_keep_their_colour(
    opaque: tuple[int, ...], hidden: tuple[int, ...]
) -> None:
    """The hidden colour of transparent pixels never bleeds into the edge: no dark or light fringe."""
    image = thumbnail_image(encode(half_transparent("RGBA", opaque, hidden), "PNG"))

    for x in range(156, 164):  # the columns around the edge, partly transparent
        red, green, blue, alpha = image.getpixel((x, 120))  # type: ignore[misc]
        if alpha > 8:
            assert close((red, green, blue), opaque[:3], 2), (x, image.getpixel((x, 120)))


def test_a_gray_image_with_alpha_keeps_both() -> None:
    """LA: gray level and alpha both survive."""
    data = encode(half_transparent("LA", (90, 255), (0, 0)), "PNG")

    image = decode(make_thumbnail(data).data)

    assert image.mode == "RGBA"  # WebP has no gray-with-alpha mode
    assert close(image.getpixel((60, 120)), (90, 90, 90, 255), 6)  # type: ignore[arg-type]
    assert image.getpixel((260, 120))[3] == 0  # type: ignore[index]


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_a_palette_image_with_a_transparent_colour_keeps_its_transparency(fmt: str) -> None:
    """P mode with a transparent index (GIF, PNG tRNS) gives alpha 0 where that index was."""
    image = Image.new("P", (400, 300), 1)
    image.putpalette([255, 255, 255, 200, 30, 30] + [0] * 762)
    image.paste(0, (200, 0, 400, 300))

    thumbnail = make_thumbnail(encode(image, fmt, transparency=0))

    decoded = decode(thumbnail.data)
    assert thumbnail.format == "WEBP"
    assert close(decoded.getpixel((60, 120)), (200, 30, 30, 255), 10)  # type: ignore[arg-type]
    assert decoded.getpixel((260, 120))[3] == 0  # type: ignore[index]


@pytest.mark.parametrize(("mode", "key"), [("RGB", (0, 255, 0)), ("L", 0)])
def test_a_png_with_a_transparent_colour_key_keeps_its_transparency(
    mode: str, key: tuple[int, ...] | int
) -> None:
    """RGB or gray PNG with tRNS: the keyed colour becomes transparent, the rest stays opaque."""
    image = Image.new(mode, (400, 300), key)
    ImageDraw.Draw(image).rectangle((0, 0, 199, 299), fill=(200, 30, 30) if mode == "RGB" else 150)

    thumbnail = make_thumbnail(encode(image, "PNG", transparency=key))

    decoded = decode(thumbnail.data)
    assert thumbnail.format == "WEBP"
    assert decoded.getpixel((60, 120))[3] == 255  # type: ignore[index]
    assert decoded.getpixel((260, 120))[3] == 0  # type: ignore[index]


def test_the_corpus_rgba_png_keeps_its_transparent_corners() -> None:
    """pil123rgba.png: its fully transparent corner is transparent in the thumbnail, its centre opaque."""
    image = decode(make_thumbnail((CORPUS / "pil123rgba.png").read_bytes()).data)

    assert image.size == (162, 150)
    assert image.getpixel((2, 2))[3] == 0  # type: ignore[index]
    assert image.getpixel((80, 75))[3] == 255  # type: ignore[index]


def test_an_alpha_channel_that_hides_nothing_gives_a_jpeg() -> None:
    """RGBA that is fully opaque is an ordinary photo: JPEG, with its colours."""
    data = encode(Image.new("RGBA", (400, 300), (120, 60, 30, 255)), "PNG")

    thumbnail = make_thumbnail(data)

    assert (thumbnail.format, thumbnail.media_type, thumbnail.extension) == ("JPEG", "image/jpeg", ".jpg")
    assert close(decode(thumbnail.data).getpixel((160, 120)), (120, 60, 30), 4)  # type: ignore[arg-type]


def test_an_opaque_photo_gives_a_jpeg() -> None:
    """RGB in, JPEG out."""
    thumbnail = make_thumbnail(encode(Image.new("RGB", (400, 300), (1, 2, 3)), "PNG"))

    assert thumbnail.format == "JPEG"
