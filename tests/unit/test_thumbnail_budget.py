"""The decode budget reads from headers what decoding will cost, and refuses before decoding.

tests/unit/test_thumbnail_memory.py holds the estimates against the memory really used.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageFile

from pipeline import headers
from pipeline.errors import ImageTooLarge
from pipeline.thumbnail import make_thumbnail
from tests.unit.thumbnail_images import encode, png_header


def test_the_refusal_comes_from_the_header_and_names_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """An 81 MP RGB PNG (under the pixel cap, 4 bytes a pixel decoded) of a few bytes is refused
    without decoding; a budget of its size lets it through to decoding."""

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("decoding started")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    header = png_header(9000, 9000, colour_type=2)

    with pytest.raises(ImageTooLarge, match=r"9000x9000 RGB .* about 3\d\d MB .* decode budget of 256 MB"):
        make_thumbnail(header)
    with pytest.raises(AssertionError, match="decoding started"):
        make_thumbnail(header, max_decode_mb=400)


@pytest.mark.parametrize(
    ("mode", "options", "expected"),
    [
        ("L", {}, 0),
        ("L", {"progressive": True}, 125 * 125 * 128),
        # 4:2:0: luma blocks rounded up to 2x2 (126 x 126), each chroma plane 63 x 63.
        ("RGB", {"progressive": True}, (126 * 126 + 2 * 63 * 63) * 128),
        ("CMYK", {"progressive": True}, 4 * 125 * 125 * 128),
    ],
)
def test_libjpegs_coefficient_buffer_is_counted_for_progressive_jpegs_only(
    mode: str, options: dict[str, object], expected: int
) -> None:
    data = encode(Image.new(mode, (1000, 1000)), "JPEG", **options)
    with Image.open(io.BytesIO(data)) as image:
        layer = image.layer  # type: ignore[attr-defined]

    assert headers.jpeg_coefficient_bytes(data, (1000, 1000), layer) == expected


@pytest.mark.parametrize(("components_in_first_scan", "buffered"), [(3, False), (1, True)])
def test_a_sequential_jpeg_whose_first_scan_leaves_out_components_is_buffered(
    components_in_first_scan: int, buffered: bool
) -> None:
    """libjpeg keeps every coefficient when the components come in scans of their own."""
    frame = bytes([8, 0, 16, 0, 16, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1])
    scan = bytes([components_in_first_scan]) + bytes(2 * components_in_first_scan) + bytes([0, 63, 0])
    data = (
        b"\xff\xd8"
        + b"\xff\xe0\x00\x04ab"  # an APP0 segment to step over
        + b"\xff\xc0"
        + (len(frame) + 2).to_bytes(2, "big")
        + frame
        + b"\xff\xda"
        + (len(scan) + 2).to_bytes(2, "big")
        + scan
    )
    layer = [(1, 1, 1, 0), (2, 1, 1, 1), (3, 1, 1, 1)]

    assert (headers.jpeg_coefficient_bytes(data, (16, 16), layer) > 0) is buffered


@pytest.mark.parametrize(
    ("flags", "expected"),
    [(0b0000_1100, (False, False)), (0b0000_0000, (False, True)), (0b0100_1100, (True, False))],
    ids=["8-bit 4:2:0", "8-bit 4:4:4", "10-bit 4:2:0"],
)
def test_an_avifs_depth_and_chroma_are_read_from_its_av1c_box(
    flags: int, expected: tuple[bool, bool]
) -> None:
    data = b"\x00\x00\x00\x10av1C" + bytes([0x81, 0x00, flags, 0x00]) + b"rest"

    assert headers.av1_depth_and_chroma(data) == expected
    assert headers.av1_depth_and_chroma(b"no box here") == (True, True), "unknown: the costliest"
