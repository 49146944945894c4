"""The source's camera facts: when the photo was taken and with what, from its EXIF, or None.

Only four tags are read: Make and Model from IFD0, DateTimeOriginal and OffsetTimeOriginal from
the Exif IFD. Nothing else (GPS above all) leaves the source. IFD0's DateTime is not a fallback
for the capture time: the EXIF spec makes it the time the *file* was last changed, and editors
rewrite it (the corpus's CMYK sample carries Photoshop's save time and no DateTimeOriginal).

EXIF is whatever the camera, phone or editor wrote, so every read is guarded: a malformed block
gives None fields, never an exception, since a photo must not fail over its metadata. That
includes a warning Pillow raises about corrupt EXIF when warnings are errors (as under pytest).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from PIL import Image

MAKE = 0x010F
MODEL = 0x0110
EXIF_IFD = 0x8769
DATE_TIME_ORIGINAL = 0x9003
OFFSET_TIME_ORIGINAL = 0x9011
MAX_TEXT = 64

# "YYYY:MM:DD HH:MM:SS" per the spec; dashes or a "T" as some writers use are accepted too,
# and fractions of a second are dropped (SubSecTimeOriginal holds them in the spec anyway).
_DATE_TIME = re.compile(r"(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?")
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")
_MAX_OFFSET_MINUTES = 14 * 60  # UTC-12:00 to UTC+14:00 are the offsets in use


@dataclass(frozen=True)
class CameraFacts:
    """When and with which camera a photo was taken; None where its EXIF does not say (or lies)."""

    taken_at: str | None  # ISO 8601, local time, "+HH:MM"/"-HH:MM" appended when EXIF gives it
    camera_make: str | None
    camera_model: str | None


NO_FACTS = CameraFacts(taken_at=None, camera_make=None, camera_model=None)


def camera_facts(image: Image.Image) -> CameraFacts:
    """The camera facts of `image`, an opened Pillow image of any format. Never raises."""
    try:
        exif = image.getexif()
    except Exception:
        return NO_FACTS
    return CameraFacts(
        taken_at=_guarded(_taken_at, exif),
        camera_make=_guarded(lambda e: _text(e.get(MAKE)), exif),
        camera_model=_guarded(lambda e: _text(e.get(MODEL)), exif),
    )


def _guarded(read: Callable[[Image.Exif], str | None], exif: Image.Exif) -> str | None:
    """`read(exif)`, or None when the EXIF makes it raise: one bad tag spoils only its own field."""
    try:
        value = read(exif)
    except Exception:
        return None
    return value if isinstance(value, str) else None


def _text(value: object) -> str | None:
    """An ASCII tag's text: NUL padding and whitespace stripped, at most 64 characters, printable."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")  # a bad byte raises, and `_guarded` gives None
    if not isinstance(value, str):
        return None  # a Make stored as a number or a list is not a name
    # ASCII values end at their NUL; some writers pad with NULs or spaces before or after it.
    text = value.strip("\x00 \t\r\n").split("\x00", 1)[0]
    text = text[:MAX_TEXT].strip()
    return text if text and text.isprintable() else None


def _taken_at(exif: Image.Exif) -> str | None:
    """DateTimeOriginal as ISO 8601, with OffsetTimeOriginal when that is present and valid."""
    ifd = exif.get_ifd(EXIF_IFD)
    moment = _text(ifd.get(DATE_TIME_ORIGINAL))
    match = _DATE_TIME.fullmatch(moment or "")
    if match is None:
        return None
    try:
        # datetime rejects what is not a date: "0000:00:00 00:00:00", month 13, 30 February.
        year, month, day, hour, minute, second = map(int, match.groups())
        when = datetime(year, month, day, hour, minute, second)  # naive: EXIF gives local time
    except ValueError:
        return None
    return when.isoformat(timespec="seconds") + _offset(ifd.get(OFFSET_TIME_ORIGINAL))


def _offset(value: object) -> str:
    """OffsetTimeOriginal as "+HH:MM"/"-HH:MM", or "" when absent or not a real offset."""
    match = _OFFSET.fullmatch(_text(value) or "")
    if match is None:
        return ""
    sign, hours, minutes = match.groups()
    if int(minutes) >= 60 or int(hours) * 60 + int(minutes) > _MAX_OFFSET_MINUTES:
        return ""
    return f"{sign}{hours}:{minutes}"
