"""Where an HTTP/1.1 request ends in the bytes received so far, for api/http_worker.py.

The worker reads requests whole before a thread parses them; this module only tells it when to
stop reading. gunicorn's parser stays the judge of the request: anything unusual here (a length
that is not a number, two lengths, a transfer coding other than chunked, a malformed chunk)
ends the request where it stands, so the parser sees it at once and answers 400 without waiting.
Each look resumes where the last stopped, so a client sending a byte at a time costs a byte's
work each time, not a new scan of all it sent.
"""

from __future__ import annotations

import re

END_OF_HEAD = b"\r\n\r\n"
# The most of a body read ahead; the API refuses bodies over 3 MiB (POST /photos; 1 MiB for the
# other routes: api/validation.py), and reads no further, so a longer one is handed over at
# this point and refused.
MAX_BODY_BYTES = 3 * 1024 * 1024 + 64 * 1024
MAX_CHUNK_LINE = 1024
CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")

Buffer = bytes | bytearray


def _fields(head: bytes) -> dict[bytes, list[bytes]]:
    """The head's fields by lower-case name, each with every value it was given."""
    fields: dict[bytes, list[bytes]] = {}
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon:
            fields.setdefault(name.strip().lower(), []).append(value.strip())
    return fields


class RequestFraming:
    """Finds where one request ends in a buffer that grows, resuming where it last looked."""

    def __init__(self) -> None:
        self.head_end: int | None = None  # just past the head's blank line, once found
        self.expects_continue = False  # the client waits for a 100 Continue to send its body
        self._searched = 0  # the head's blank line is not before this offset
        self._end: int | None = None  # just past the body, when its length is known
        self.next_chunk: int | None = None  # a chunked body: where its next chunk-size line starts

    def end(self, buffer: Buffer) -> int | None:
        """The offset just past the request (head and body), or None while `buffer` lacks some."""
        if self.head_end is None:
            found = buffer.find(END_OF_HEAD, max(0, self._searched - len(END_OF_HEAD) + 1))
            if found < 0:
                self._searched = len(buffer)
                return None
            self.head_end = found + len(END_OF_HEAD)
            self._frame(bytes(buffer[: self.head_end]), self.head_end)
        if self.next_chunk is not None:
            return self._chunked_end(buffer)
        assert self._end is not None
        return self._end if len(buffer) >= self._end else None

    def _frame(self, head: bytes, head_end: int) -> None:
        """Read from the head how the body is framed: none, a length, or chunks."""
        fields = _fields(head)
        self.expects_continue = any(value.lower() == b"100-continue" for value in fields.get(b"expect", []))
        codings, lengths = fields.get(b"transfer-encoding", []), fields.get(b"content-length", [])
        self._end = head_end
        if codings:
            if not lengths and [coding.lower() for coding in codings] == [b"chunked"]:
                self.next_chunk = head_end
        elif len(lengths) == 1 and lengths[0].isdigit() and int(lengths[0]) <= MAX_BODY_BYTES:
            self._end = head_end + int(lengths[0])

    def _chunked_end(self, buffer: Buffer) -> int | None:
        """Past the last chunk and the trailers; None while incomplete."""
        while True:
            position = self.next_chunk
            assert position is not None
            line_end = buffer.find(b"\r\n", position, position + MAX_CHUNK_LINE)
            if line_end < 0:
                return None if len(buffer) - position < MAX_CHUNK_LINE else position
            size_text = bytes(buffer[position:line_end]).split(b";", 1)[0].strip()
            if not CHUNK_SIZE.fullmatch(size_text):
                return position
            size = int(size_text, 16)
            if size == 0:
                # Then the trailer section: field lines, if any, and a blank line.
                blank = buffer.find(END_OF_HEAD, line_end)
                return None if blank < 0 else blank + len(END_OF_HEAD)
            if line_end + 2 + size + 2 > len(buffer):
                return None
            self.next_chunk = line_end + 2 + size + 2


def request_end(buffer: Buffer) -> int | None:
    """Where the first request in `buffer` ends, looked at afresh (None: incomplete)."""
    return RequestFraming().end(buffer)
