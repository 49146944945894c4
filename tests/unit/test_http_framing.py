"""api/http_framing.py: where a request ends in the bytes received so far."""

from __future__ import annotations

import pytest

from api.http_framing import MAX_BODY_BYTES, RequestFraming, request_end

GET = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
HEAD = b"POST /photos/process HTTP/1.1\r\nHost: a\r\n"
CHUNKED = (
    HEAD
    + b"Transfer-Encoding: chunked\r\n\r\n"
    + b"5;ext=1\r\nhello\r\n1A\r\n"
    + b"x" * 26
    + b"\r\n0\r\n\r\n"
)
TRAILERS = HEAD + b"Transfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-More: 2\r\n\r\n"


def _head_end(buffer: bytes) -> int | None:
    framing = RequestFraming()
    framing.end(buffer)
    return framing.head_end


def test_a_head_ends_at_its_blank_line_and_not_before() -> None:
    assert _head_end(GET) == len(GET)
    assert _head_end(GET[:-1]) is None
    assert _head_end(b"") is None


def test_a_request_without_a_body_ends_at_its_head() -> None:
    assert request_end(GET) == len(GET)
    assert request_end(GET + b"GET /next") == len(GET), "a pipelined request is not part of it"
    assert request_end(GET[:-2]) is None


def test_a_body_of_known_length_is_waited_for_to_its_last_byte() -> None:
    request = HEAD + b"Content-Length: 10\r\n\r\n" + b"[1,2,3,45]"
    assert request_end(request) == len(request)
    assert request_end(request + GET) == len(request)
    for cut in range(len(request) - 10, len(request)):
        assert request_end(request[:cut]) is None, cut


@pytest.mark.parametrize("request_bytes", [CHUNKED, TRAILERS], ids=["extensions", "trailers"])
def test_a_chunked_body_is_waited_for_to_its_last_chunk_and_trailers(request_bytes: bytes) -> None:
    assert request_end(request_bytes) == len(request_bytes)
    assert request_end(request_bytes + GET) == len(request_bytes)
    for cut in range(_head_end(request_bytes) or 0, len(request_bytes)):
        assert request_end(request_bytes[:cut]) is None, request_bytes[:cut]


@pytest.mark.parametrize(
    "fields",
    [
        b"Content-Length: ten\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: 5\r\nContent-Length: 6\r\n",
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: gzip\r\n",
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        f"Content-Length: {MAX_BODY_BYTES + 1}\r\n".encode(),
    ],
    ids=[
        "not a number",
        "negative",
        "two lengths",
        "length and chunked",
        "gzip",
        "chunked twice",
        "too long",
    ],
)
def test_a_request_the_parser_will_refuse_or_the_api_will_not_read_ends_at_its_head(fields: bytes) -> None:
    request = HEAD + fields + b"\r\n"
    assert request_end(request) == len(request)


@pytest.mark.parametrize("size_line", [b"zz", b"-5", b"0x5", b"+5", b"5_0", b""])
def test_a_malformed_chunk_size_ends_the_request_where_it_stands(size_line: bytes) -> None:
    request = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    assert request_end(request + size_line + b"\r\nhello\r\n0\r\n\r\n") == len(request)


def test_a_chunk_size_line_that_never_ends_ends_the_request_once_too_long() -> None:
    request = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    assert request_end(request + b"5;" + b"x" * 100) is None
    assert request_end(request + b"5;" + b"x" * 2000) == len(request)


def _expects_continue(buffer: bytes) -> bool:
    framing = RequestFraming()
    framing.end(buffer)
    return framing.expects_continue


def test_expect_100_continue_is_recognised_in_any_letter_case() -> None:
    assert _expects_continue(HEAD + b"Expect: 100-Continue\r\nContent-Length: 5\r\n\r\n")
    assert not _expects_continue(HEAD + b"Content-Length: 5\r\n\r\n")
    assert not _expects_continue(HEAD + b"Expect: 100-continue\r\n")  # the head is not complete


@pytest.mark.parametrize(
    "request_bytes",
    [GET, HEAD + b"Content-Length: 10\r\n\r\n" + b"[1,2,3,45]", CHUNKED, TRAILERS],
    ids=["no body", "length", "chunks", "trailers"],
)
def test_fed_a_byte_at_a_time_one_framing_finds_the_same_end_at_the_last_byte(request_bytes: bytes) -> None:
    framing, buffer = RequestFraming(), bytearray()
    for byte in request_bytes[:-1]:
        buffer.append(byte)
        assert framing.end(buffer) is None, bytes(buffer)
    buffer += request_bytes[-1:] + GET
    assert framing.end(buffer) == len(request_bytes)


def test_a_chunked_body_already_read_is_not_walked_again() -> None:
    framing = RequestFraming()
    many = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"1\r\nx\r\n" * 10_000
    assert framing.end(many) is None
    # Where it resumes: the first chunk not yet whole, here the end of what was received.
    assert framing.next_chunk == len(many)
