"""Thumbnails are upright whatever EXIF orientation the camera wrote, and malformed EXIF is harmless."""

from __future__ import annotations

from typing import Any

import pytest
from PIL import Image

from pipeline.thumbnail import make_thumbnail, thumbnail_image
from tests.unit.thumbnail_images import (
    CORPUS,
    QUADRANTS,
    card,
    close,
    decode,
    encode,
    orientation_exif,
    psnr,
    quadrant_colours,
    stored,
)

# How each format is written: lossless or near it, so that colours can be checked.
FORMATS: dict[str, dict[str, Any]] = {
    "JPEG": {"quality": 95},
    "WEBP": {"lossless": True},
    "TIFF": {},
    "HEIF": {"quality": 90},
    "AVIF": {"quality": 90},
}


@pytest.fixture(scope="module", autouse=True)
def heif_encoder() -> None:
    """Let these tests write HEIF (the thumbnail function registers the opener itself)."""
    import pillow_heif

    pillow_heif.register_heif_opener()


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_exif_orientation_gives_an_upright_thumbnail_in_every_format(
    fmt: str, orientation: int
) -> None:
    """Orientations 1-8 in JPEG, WebP, TIFF, HEIC and AVIF all come out upright, at the upright size."""
    photo = stored(card((400, 300)), orientation)
    data = encode(photo, fmt, exif=orientation_exif(orientation).tobytes(), **FORMATS[fmt])

    thumbnail = make_thumbnail(data)

    image = decode(thumbnail.data)
    assert (thumbnail.width, thumbnail.height) == image.size == (320, 240)
    for actual, expected in zip(quadrant_colours(image), QUADRANTS, strict=True):
        assert close(actual, expected, 30), (actual, expected)


@pytest.mark.parametrize(
    ("orientation", "size"), [(1, (320, 213)), (3, (320, 213)), (6, (213, 320)), (8, (213, 320))]
)
def test_a_6000_by_4000_photo_tagged_rotate_90_gives_213_by_320(
    orientation: int, size: tuple[int, int]
) -> None:
    """The thumbnail's size is that of the upright photo, computed before the resize."""
    photo = Image.new("RGB", (6000, 4000), (90, 120, 150))
    data = encode(photo, "JPEG", quality=70, exif=orientation_exif(orientation))

    thumbnail = make_thumbnail(data)

    assert (thumbnail.width, thumbnail.height) == size
    assert decode(thumbnail.data).size == size


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_the_corpus_photos_stored_rotated_come_out_like_the_upright_one(orientation: int) -> None:
    """hopper_orientation_N.jpg (Pillow's test images) look like hopper.jpg once thumbnailed."""
    upright = thumbnail_image((CORPUS / "hopper.jpg").read_bytes())
    rotated = thumbnail_image((CORPUS / f"hopper_orientation_{orientation}.jpg").read_bytes())

    assert rotated.size == upright.size == (128, 128)
    assert psnr(rotated, upright) > 25


def test_orientation_is_applied_to_the_small_image_not_the_large_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rotating happens after the resize: no transpose ever sees more than the thumbnail's pixels."""
    sizes: list[tuple[int, int]] = []
    original = Image.Image.transpose

    def spy(self: Image.Image, method: Image.Transpose) -> Image.Image:
        sizes.append(self.size)
        return original(self, method)

    data = encode(Image.new("RGB", (3000, 2000), "gray"), "JPEG", exif=orientation_exif(6))
    monkeypatch.setattr(Image.Image, "transpose", spy)

    make_thumbnail(data)

    assert sizes == [(320, 213)]


MALFORMED_EXIF = {
    "garbage after the header": b"Exif\x00\x00" + b"\xff" * 40,
    "an IFD announcing 65535 entries": b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + b"\x00" * 12,
    "a truncated TIFF header": b"Exif\x00\x00MM\x00",
    "an IFD offset past the end": b"Exif\x00\x00II*\x00\xff\xff\xff\x7f",
    "orientation 9": orientation_exif(9).tobytes(),
    "orientation 0": orientation_exif(0).tobytes(),
    "orientation as text": b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x02\x00\x02\x00\x00\x006\x00"
    + b"\x00\x00\x00\x00",
}


# Pillow reports what it cannot parse with a UserWarning ("Corrupt EXIF data") and carries on;
# outside pytest's warnings-as-errors that is a log line, so the test lets it pass to see the outcome.
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
@pytest.mark.parametrize("exif", MALFORMED_EXIF.values(), ids=MALFORMED_EXIF.keys())
def test_malformed_exif_never_fails_a_photo_that_decodes(exif: bytes) -> None:
    """Unreadable or nonsensical EXIF is ignored: the photo is thumbnailed as stored."""
    data = encode(card((400, 300)), "JPEG", quality=95, exif=exif)

    thumbnail = make_thumbnail(data)

    image = decode(thumbnail.data)
    assert image.size == (320, 240)
    for actual, expected in zip(quadrant_colours(image), QUADRANTS, strict=True):
        assert close(actual, expected, 30)
