"""What Pillow's plugins do not tell about a file, read from its header: how it will be decoded.

Two facts the decode budget needs: whether libjpeg must hold every DCT coefficient of a JPEG
(progressive, or sequential with components in scans of their own), and the bit depth and
chroma subsampling of an AVIF. Malformed headers give the costlier answer; the decoders then
refuse what they cannot read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# Start-of-frame markers of the progressive DCT processes (libjpeg decodes these in many scans).
_PROGRESSIVE = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_START_OF_FRAME = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # not DHT, JPG, DAC
_START_OF_SCAN = 0xDA
# libjpeg's coefficient block: 64 coefficients of 2 bytes.
_BLOCK_BYTES = 128


def jpeg_coefficient_bytes(
    data: bytes, size: tuple[int, int], components: Sequence[tuple[int, int, int, int]]
) -> int:
    """Bytes libjpeg allocates for the whole image's coefficients, or 0 when it decodes as it goes.

    `components` is Pillow's `layer` list, (id, horizontal, vertical sampling, table) each. libjpeg
    buffers the image (jdcoefct.c, a full buffer) when it has several scans: a progressive JPEG, or
    a sequential one whose first scan holds only some components. The buffer is full size whatever
    DCT scale the output is reduced to: 2 bytes a pixel for gray, 3 for 4:2:0 colour, 8 for CMYK.
    """
    if not components or not _several_scans(data, len(components)):
        return 0
    h_max = max(max(1, c[1]) for c in components)
    v_max = max(max(1, c[2]) for c in components)
    total = 0
    for _, h, v, _ in components:
        h, v = max(1, h), max(1, v)
        blocks_wide = math.ceil(size[0] * h / (h_max * 8))
        blocks_high = math.ceil(size[1] * v / (v_max * 8))
        total += _round_up(blocks_wide, h) * _round_up(blocks_high, v) * _BLOCK_BYTES
    return total


def av1_depth_and_chroma(data: bytes) -> tuple[bool, bool]:
    """(more than 8 bits a sample, 4:4:4) of an AVIF's AV1 streams, from their `av1C` boxes.

    Each image item (the picture, its alpha plane) has one; the costliest answer of them is
    given, and the costliest of all when none can be read.
    """
    deep = full = False
    found = False
    start = data.find(b"av1C")
    while start >= 0:
        config = data[start + 4 : start + 8]
        if len(config) == 4 and config[0] == 0x81:  # marker 1, version 1
            flags = config[2]  # tier, high_bitdepth, twelve_bit, monochrome, subsampling x, y, ...
            found = True
            deep = deep or bool(flags & 0x40)
            full = full or not (flags & 0x08 or flags & 0x10)
        start = data.find(b"av1C", start + 4)
    return (deep, full) if found else (True, True)


def _several_scans(data: bytes, frame_components: int) -> bool:
    """Whether the JPEG in `data` is progressive or its first scan leaves out some components."""
    position, frame = 2, None
    while position + 4 < len(data):
        if data[position] != 0xFF:
            return True  # not where a marker must be: assume the costlier decoding
        marker = data[position + 1]
        if marker == 0xFF:  # a fill byte before a marker
            position += 1
            continue
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers without a length
            position += 2
            continue
        if marker in _START_OF_FRAME:
            frame = marker
        if marker == _START_OF_SCAN:
            return frame is None or frame in _PROGRESSIVE or data[position + 4] < frame_components
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return True


def _round_up(value: int, multiple: int) -> int:
    """`value` rounded up to a multiple of `multiple`."""
    return -(-value // multiple) * multiple
