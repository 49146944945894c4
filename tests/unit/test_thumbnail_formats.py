"""Every photo format we promise is read; anything else fails with a clear domain error."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PIL import Image, ImageFile

from pipeline.errors import CorruptImage, ImageTooLarge, NotAnImage, classify
from pipeline.thumbnail import make_thumbnail
from tests.unit.thumbnail_images import (
    CORPUS,
    QUADRANTS,
    card,
    close,
    decode,
    encode,
    photo_like,
    png_header,
    quadrant_colours,
)


@pytest.fixture(scope="module", autouse=True)
def heif_encoder() -> None:
    """Let these tests write HEIF."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def animated(fmt: str, **options: object) -> bytes:
    """Two frames, the first the quadrant card, the second solid black."""
    first, second = card(), Image.new("RGB", (400, 300))
    return encode(first, fmt, save_all=True, append_images=[second], **options)


SOURCES: dict[str, Callable[[], bytes]] = {
    "baseline JPEG": lambda: encode(card(), "JPEG", quality=95),
    "progressive JPEG": lambda: encode(card(), "JPEG", quality=95, progressive=True),
    "PNG": lambda: encode(card(), "PNG"),
    "GIF": lambda: encode(card(), "GIF"),
    "animated GIF, first frame": lambda: animated("GIF"),
    "WebP": lambda: encode(card(), "WEBP", quality=95),
    "animated WebP, first frame": lambda: animated("WEBP", lossless=True),
    "AVIF": lambda: encode(card(), "AVIF", quality=90),
    "HEIC": lambda: encode(card(), "HEIF", quality=90),
    "TIFF": lambda: encode(card(), "TIFF", compression="tiff_lzw"),
    "BMP": lambda: encode(card(), "BMP"),
    "MPO, first picture": lambda: animated("MPO", quality=95),
}


@pytest.mark.parametrize("make", SOURCES.values(), ids=SOURCES.keys())
def test_each_promised_format_gives_a_thumbnail_of_its_first_picture(make: Callable[[], bytes]) -> None:
    """JPEG, PNG, GIF, WebP, AVIF, HEIC, TIFF, BMP, MPO: right size, right colours, first frame."""
    thumbnail = make_thumbnail(make())

    image = decode(thumbnail.data)
    assert image.size == (thumbnail.width, thumbnail.height) == (320, 240)
    for actual, expected in zip(quadrant_colours(image), QUADRANTS, strict=True):
        assert close(actual, expected, 30), (actual, expected)


def test_the_corpus_animated_gif_gives_its_first_frame() -> None:
    """iss634.gif: the thumbnail is the first frame at its own size (smaller than the box)."""
    with Image.open(CORPUS / "iss634.gif") as source:
        first = source.convert("RGB")

    image = decode(make_thumbnail((CORPUS / "iss634.gif").read_bytes()).data)

    assert image.size == first.size == (245, 245)
    assert close(image.getpixel((120, 120)), first.getpixel((120, 120)), 25)  # type: ignore[arg-type]


NOT_IMAGES = {
    "empty": b"",
    "HTML": b"<!DOCTYPE html><html><body>Not found</body></html>",
    "text": b"hello, world\n",
    "PDF": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n",
    "SVG": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
    "ICO (not a photo format)": encode(Image.new("RGB", (32, 32), "red"), "ICO"),
    "PPM (a Pillow format we do not open)": encode(Image.new("RGB", (32, 32), "red"), "PPM"),
    "TGA (a Pillow format we do not open)": encode(Image.new("RGB", (32, 32), "red"), "TGA"),
}


@pytest.mark.parametrize("data", NOT_IMAGES.values(), ids=NOT_IMAGES.keys())
def test_anything_else_is_not_an_image(data: bytes) -> None:
    """Bodies in no allowed format raise NotAnImage, whatever Pillow itself could read."""
    with pytest.raises(NotAnImage, match=r"empty|not an image"):
        make_thumbnail(data)


def test_the_not_an_image_reason_shows_how_the_body_starts() -> None:
    """The stored reason lets a person see it was an HTML page."""
    with pytest.raises(NotAnImage) as raised:
        make_thumbnail(b"<!DOCTYPE html><html>")

    assert classify(raised.value).reason.startswith("not_an_image: ")
    assert "<!DOCTYPE html>" in str(raised.value)


def cut(fmt: str, keep: float) -> Callable[[], bytes]:
    """A photo-like image encoded as `fmt`, keeping only the first `keep` of its bytes."""

    def make() -> bytes:
        data = encode(photo_like((800, 600), 1), fmt, quality=90)
        return data[: int(len(data) * keep)]

    return make


def damaged_png() -> bytes:
    """A PNG whose compressed image data is partly overwritten with zeros."""
    data = encode(photo_like((800, 600), 2), "PNG")
    return data[:200] + b"\x00" * 200 + data[400:]


def avif_without_its_image() -> bytes:
    """An AVIF whose primary item points at no image (libavif fails; Pillow raises RuntimeError)."""
    data = bytearray(encode(photo_like((300, 200), 3), "AVIF"))
    item_id = data.index(b"pitm") + 8  # after the box type and its version and flags
    data[item_id : item_id + 2] = b"\xff\xff"
    return bytes(data)


CORRUPT: dict[str, Callable[[], bytes]] = {
    "JPEG cut in half": cut("JPEG", 0.5),
    "JPEG headers only": cut("JPEG", 0.005),
    "JPEG signature then noise": lambda: b"\xff\xd8\xff" + bytes(range(256)) * 4,
    "PNG cut in half": cut("PNG", 0.5),
    "PNG signature then noise": lambda: b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
    "PNG with damaged image data": damaged_png,
    "GIF signature only": lambda: b"GIF89a",
    "WebP cut short": cut("WEBP", 0.02),
    "TIFF signature then noise": lambda: b"II*\x00" + b"\xff" * 64,
    "AVIF missing its last bytes": cut("AVIF", 0.999),
    "AVIF without its image": avif_without_its_image,
    "HEIC cut in half": cut("HEIF", 0.5),
}


# Pillow warns ("Corrupt EXIF data") while parsing a damaged TIFF directory, then fails; outside
# pytest's warnings-as-errors the warning is only a log line.
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
@pytest.mark.parametrize("make", CORRUPT.values(), ids=CORRUPT.keys())
def test_truncated_or_damaged_images_are_corrupt(make: Callable[[], bytes]) -> None:
    """Bytes that start as an allowed format but cannot be decoded raise CorruptImage."""
    data = make()

    with pytest.raises(CorruptImage):
        make_thumbnail(data)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_a_png_bomb_is_refused_from_its_header_without_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 30000x30000 PNG of a few bytes is refused before any pixel memory is allocated."""

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("decoding started")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    bomb = png_header(30000, 30000)
    assert len(bomb) < 100

    with pytest.raises(ImageTooLarge, match="30000x30000"):
        make_thumbnail(bomb)


def test_the_pixel_limit_is_the_one_given() -> None:
    """max_pixels is inclusive: 100x100 passes at 10000 and fails at 9999."""
    data = encode(Image.new("RGB", (100, 100), "red"), "PNG")

    assert make_thumbnail(data, max_pixels=10_000).width == 100
    with pytest.raises(ImageTooLarge):
        make_thumbnail(data, max_pixels=9_999)


@pytest.mark.parametrize("side", [9500, 14000], ids=["90 MP", "196 MP"])
def test_pillows_own_bomb_check_is_replaced_by_ours(side: int) -> None:
    """Above Pillow's 89 MP warning and 179 MP error, our limit alone decides: no warning escapes.

    Pillow's check would fire inside Image.open, before ours; under pytest its warning is an error.
    """
    with pytest.raises(ImageTooLarge, match=f"more than the limit of {side * side - 1:,}"):
        make_thumbnail(png_header(side, side), max_pixels=side * side - 1)
