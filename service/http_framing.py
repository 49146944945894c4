"""Where an HTTP/1.1 request ends in the bytes received so far, for service/http_worker.py.

The worker reads requests whole before a thread parses them; this module only tells it when to
stop reading. gunicorn's parser stays the judge of the request: anything unusual here (a length
that is not a number, two lengths, a transfer coding other than chunked, a malformed chunk)
ends the request at its head, so the parser sees it at once and answers 400 without waiting.
"""

from __future__ import annotations

import re

END_OF_HEAD = b"\r\n\r\n"
# The most of a body read ahead; the API refuses bodies over 1 MiB (service/validation.py), and
# reads no further, so a longer one is handed over at this point and refused.
MAX_BODY_BYTES = 1024 * 1024 + 64 * 1024
MAX_CHUNK_LINE = 1024
CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


def head_end(buffer: bytes) -> int | None:
    """The offset just past the head's blank line, or None while the head is incomplete."""
    end = buffer.find(END_OF_HEAD)
    return None if end < 0 else end + len(END_OF_HEAD)


def _fields(head: bytes) -> dict[bytes, list[bytes]]:
    """The head's fields by lower-case name, each with every value it was given."""
    fields: dict[bytes, list[bytes]] = {}
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon:
            fields.setdefault(name.strip().lower(), []).append(value.strip())
    return fields


def expects_continue(buffer: bytes) -> bool:
    """Whether the request (head complete) waits for a 100 Continue before sending its body."""
    end = head_end(buffer)
    if end is None:
        return False
    return any(value.lower() == b"100-continue" for value in _fields(buffer[:end]).get(b"expect", []))


def request_end(buffer: bytes) -> int | None:
    """The offset just past the first request (head and body), or None while it is incomplete."""
    start = head_end(buffer)
    if start is None:
        return None
    fields = _fields(buffer[:start])
    codings, lengths = fields.get(b"transfer-encoding", []), fields.get(b"content-length", [])
    if codings:
        if lengths or [coding.lower() for coding in codings] != [b"chunked"]:
            return start
        return _chunked_end(buffer, start)
    if not lengths:
        return start
    if len(lengths) > 1 or not lengths[0].isdigit() or int(lengths[0]) > MAX_BODY_BYTES:
        return start
    end = start + int(lengths[0])
    return end if len(buffer) >= end else None


def _chunked_end(buffer: bytes, position: int) -> int | None:
    """The offset just past a chunked body starting at `position` (None: incomplete)."""
    while True:
        line_end = buffer.find(b"\r\n", position, position + MAX_CHUNK_LINE)
        if line_end < 0:
            return None if len(buffer) - position < MAX_CHUNK_LINE else position
        size_text = buffer[position:line_end].split(b";", 1)[0].strip()
        if not CHUNK_SIZE.fullmatch(size_text):
            return position
        size = int(size_text, 16)
        if size == 0:
            # Then the trailer section: field lines, if any, and a blank line.
            blank = buffer.find(END_OF_HEAD, line_end)
            return None if blank < 0 else blank + len(END_OF_HEAD)
        position = line_end + 2 + size + 2
        if position > len(buffer):
            return None
