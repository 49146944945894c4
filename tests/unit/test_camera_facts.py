"""pipeline/camera_facts.py: capture time and camera from EXIF in every format; bad EXIF gives None."""

from __future__ import annotations

import io
import random
import struct
import warnings
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image

from pipeline.camera_facts import (
    DATE_TIME_ORIGINAL,
    EXIF_IFD,
    MAKE,
    MODEL,
    NO_FACTS,
    OFFSET_TIME_ORIGINAL,
    CameraFacts,
    camera_facts,
)

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
pillow_heif.register_heif_opener()


def _exif(
    make: object = "Canon",
    model: object = "Canon EOS R5",
    taken: object = "2024:05:06 07:08:09",
    offset: object = None,
) -> Image.Exif:
    exif = Image.Exif()
    for tag, value in ((MAKE, make), (MODEL, model)):
        if value is not None:
            exif[tag] = value
    ifd = exif.get_ifd(EXIF_IFD)
    if taken is not None:
        ifd[DATE_TIME_ORIGINAL] = taken
    if offset is not None:
        ifd[OFFSET_TIME_ORIGINAL] = offset
    exif[0x0132] = "2030:01:01 00:00:00"  # IFD0 DateTime: the file's change time, never used
    return exif


def _saved(fmt: str, exif: Image.Exif | bytes) -> Image.Image:
    """A 16x16 image saved as `fmt` with `exif`, opened again as the pipeline opens a source."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 150)).save(buffer, fmt, exif=exif)
    buffer.seek(0)
    with warnings.catch_warnings():
        # Pillow's JPEG opener reads EXIF for the DPI and warns when it is corrupt; opening is
        # the pipeline's business, so only camera_facts runs with warnings as errors.
        warnings.simplefilter("ignore")
        return Image.open(buffer)


EXPECTED = CameraFacts(taken_at="2024-05-06T07:08:09+02:00", camera_make="Canon", camera_model="Canon EOS R5")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF", "AVIF"])
def test_facts_are_read_from_every_format(fmt):
    assert camera_facts(_saved(fmt, _exif(offset="+02:00"))) == EXPECTED


def test_facts_are_read_from_a_loaded_image():
    image = _saved("JPEG", _exif(offset="+02:00"))
    image.load()
    assert camera_facts(image) == EXPECTED


def test_a_tiff_gives_its_make_and_model():
    # Pillow writes no Exif IFD into a TIFF, so there is no capture time to read back.
    assert camera_facts(_saved("TIFF", _exif())) == CameraFacts(None, "Canon", "Canon EOS R5")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("flower.jpg", CameraFacts("2003-12-14T12:01:44", "Canon", "Canon PowerShot S40")),
        # Photoshop's save time is in IFD0 DateTime only: not when the photo was taken.
        ("pil_sample_cmyk.jpg", NO_FACTS),
        ("hopper.jpg", NO_FACTS),
        ("hopper_orientation_6.jpg", NO_FACTS),
        ("pil123rgba.png", NO_FACTS),
        ("iss634.gif", NO_FACTS),
    ],
)
def test_corpus_files(name, expected):
    with Image.open(CORPUS / name) as image:
        assert camera_facts(image) == expected


@pytest.mark.parametrize(
    ("offset", "suffix"),
    [("-05:30", "-05:30"), ("+14:00", "+14:00"), ("+00:00", "+00:00"), (None, ""), ("", ""), ("   :  ", "")],
)
def test_the_offset_is_appended_when_present(offset, suffix):
    facts = camera_facts(_saved("JPEG", _exif(offset=offset)))
    assert facts.taken_at == "2024-05-06T07:08:09" + suffix


@pytest.mark.parametrize("offset", ["+25:00", "+02:60", "02:00", "+2:00", "Z", "+02:00:00", "\x00\x00"])
def test_an_invalid_offset_is_left_out_and_the_time_kept(offset):
    assert camera_facts(_saved("JPEG", _exif(offset=offset))).taken_at == "2024-05-06T07:08:09"


@pytest.mark.parametrize(
    "taken",
    [
        "0000:00:00 00:00:00",
        "    :  :     :  :  ",
        "2024:13:01 10:00:00",
        "2023:02:29 10:00:00",
        "2024:05:06 25:00:00",
        "2024:05:06",
        "yesterday",
        "",
        "2024:05:06 07:08:09 and more",
    ],
)
def test_an_invalid_date_gives_none(taken):
    facts = camera_facts(_saved("JPEG", _exif(taken=taken)))
    assert facts.taken_at is None
    assert facts.camera_make == "Canon"


@pytest.mark.parametrize(
    ("taken", "expected"),
    [("2024-05-06 07:08:09", "2024-05-06T07:08:09"), ("2024:05:06 07:08:09.123\x00", "2024-05-06T07:08:09")],
)
def test_near_spec_dates_are_read(taken, expected):
    assert camera_facts(_saved("JPEG", _exif(taken=taken))).taken_at == expected


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        ("  Canon \x00\x00\x00", "Canon"),
        ("\x00\x00", None),
        ("   ", None),
        ("Canon\x00garbage after the terminator", "Canon"),
        ("x" * 100, "x" * 64),
        ("Bad\x07bell", None),
        ("Nikon\nCorp", None),
        (b"Leica\x00", "Leica"),
    ],
)
def test_strings_are_cleaned_or_dropped(make, expected):
    assert camera_facts(_saved("JPEG", _exif(make=make))).camera_make == expected


@pytest.mark.parametrize("value", [1234, (1, 2, 3), 1.5, b"\xff\xfe", None])
def test_a_make_or_model_that_is_not_text_gives_none(value):
    # Set on the parsed EXIF, as a file whose tag has the wrong type would give it.
    image = Image.new("RGB", (4, 4))
    exif = image.getexif()
    exif[MAKE] = value
    exif[MODEL] = value
    assert camera_facts(image) == NO_FACTS


def test_no_exif_gives_no_facts():
    assert camera_facts(Image.new("RGB", (4, 4))) == NO_FACTS


def _good_exif_bytes() -> bytes:
    return b"Exif\x00\x00" + _exif(offset="+02:00").tobytes()


def _malformed() -> dict[str, bytes]:
    good = _good_exif_bytes()
    tiff = good[6:]
    cases = {
        "header only": b"Exif\x00\x00II*\x00",
        "IFD0 offset past the end": b"Exif\x00\x00II*\x00\xff\xff\x00\x00",
        "big-endian, IFD0 offset past the end": b"Exif\x00\x00MM\x00*\xff\xff\xff\xff",
        "not TIFF": b"Exif\x00\x00hello, world",
        "truncated in half": good[: len(good) // 2],
        "truncated by one": good[:-1],
        "entry count too large": b"Exif\x00\x00" + tiff[:8] + b"\xff\xff" + tiff[10:],
    }
    # The Exif IFD pointer aimed far past the end, and at IFD0 itself (a loop).
    order = "<" if tiff[:2] == b"II" else ">"
    pointer = tiff.find(struct.pack(order + "HH", EXIF_IFD, 4))
    assert pointer > 0
    for name, target in (("Exif IFD pointer past the end", 0xFFFFFF), ("Exif IFD pointer loops", 8)):
        patched = tiff[: pointer + 8] + struct.pack(order + "I", target) + tiff[pointer + 12 :]
        cases[name] = b"Exif\x00\x00" + patched
    rng = random.Random(19)
    for n in range(20):
        flipped = bytearray(good)
        for _ in range(8):
            flipped[rng.randrange(6, len(flipped))] = rng.randrange(256)
        cases[f"bytes flipped {n}"] = bytes(flipped)
        cases[f"random {n}"] = b"Exif\x00\x00II*\x00\x08\x00\x00\x00" + rng.randbytes(rng.randrange(2, 200))
    return cases


MALFORMED = _malformed()


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_exif_never_raises(name):
    image = Image.new("RGB", (4, 4))
    image.info["exif"] = MALFORMED[name]
    facts = camera_facts(image)
    assert isinstance(facts, CameraFacts)


@pytest.mark.parametrize(
    "name", ["header only", "IFD0 offset past the end", "big-endian, IFD0 offset past the end", "not TIFF"]
)
def test_malformed_exif_in_a_jpeg_gives_none_fields(name):
    assert camera_facts(_saved("JPEG", MALFORMED[name])) == NO_FACTS


def test_an_unreadable_exif_ifd_keeps_the_make_and_model():
    image = Image.new("RGB", (4, 4))
    image.info["exif"] = MALFORMED["Exif IFD pointer past the end"]
    assert camera_facts(image) == CameraFacts(None, "Canon", "Canon EOS R5")


def test_an_image_whose_getexif_raises_gives_no_facts():
    class Broken(Image.Image):
        def getexif(self) -> Image.Exif:
            raise SyntaxError("not an EXIF block")

    assert camera_facts(Broken()) == NO_FACTS
