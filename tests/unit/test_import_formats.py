"""The import's file formats (service/import_formats.py) and its URL check (check_photo_url): pure."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from api.validation import MAX_URL_LENGTH, check_photo_url
from service.import_formats import FORMATS, NOT_UTF8, UNCLOSED_QUOTE, NoUrlColumn, records


def _read(data: bytes, fmt: str = "auto") -> tuple[str, list[tuple[int, str | None, bool]]]:
    """The detected format and each record as (line, url, bad)."""
    found, rows = records(io.BytesIO(data), fmt)
    return found, [(number, url, problem is not None) for number, url, problem, _last in rows]


@pytest.mark.parametrize(
    ("first", "fmt"),
    [
        (b"https://example.com/a.jpg", "lines"),
        (b"url", "csv"),
        (b"id, URL ,title", "csv"),
        (b'"id","url"', "csv"),
        (b"https://example.com/a,url.jpg", "lines"),
        (b"http://d.example/a?x=1,url", "lines"),  # a good URL, though it reads as a header with url
        (b"#,url", "csv"),  # a header starting with #, not a comment
        (b'{"url": "https://example.com/a.jpg"}', "ndjson"),
        (b'  {"id": 1}', "ndjson"),
    ],
)
def test_the_format_is_told_by_the_first_line_of_data(first: bytes, fmt: str) -> None:
    assert _read(b"\n# a comment\n" + first + b"\n")[0] == fmt


def test_a_byte_order_mark_is_not_part_of_the_header() -> None:
    found, rows = _read(b"\xef\xbb\xbfurl\r\nhttps://example.com/a.jpg\r\n")
    assert (found, rows) == ("csv", [(2, "https://example.com/a.jpg", False)])


def test_an_empty_input_has_no_records() -> None:
    assert _read(b"") == ("lines", [])
    assert _read(b"\n\n# nothing\n", "csv") == ("csv", [])


def test_lines_are_numbered_as_an_editor_numbers_them() -> None:
    data = b"# list\n\nhttp://a.example/1\n  \n#http://a.example/x\nhttp://a.example/2\r\nnope\n"
    assert _read(data) == (
        "lines",
        [(3, "http://a.example/1", False), (6, "http://a.example/2", False), (7, None, True)],
    )


def test_a_csv_record_over_two_lines_is_numbered_by_its_first() -> None:
    data = b'title,url\n"two\nlines",http://a.example/1\n"\xff",http://a.example/2\nx,http://a.example/3\n'
    found, rows = records(io.BytesIO(data))
    assert found == "csv"
    assert list(rows) == [
        (2, "http://a.example/1", None, 3),
        (4, None, NOT_UTF8, 4),
        (5, "http://a.example/3", None, 5),
    ]


@pytest.mark.parametrize("end", [b"\n", b""])
def test_an_unclosed_quote_makes_every_line_it_took_bad(end: bytes) -> None:
    data = b'url\nhttp://a.example/1\n"http://a.example/2\nhttp://a.example/3\nhttp://a.example/4' + end
    found, rows = records(io.BytesIO(data))
    assert found == "csv"
    assert list(rows) == [(2, "http://a.example/1", None, 2), (3, None, UNCLOSED_QUOTE, 5)]


def test_a_quoted_field_closed_on_the_last_line_is_not_an_unclosed_quote() -> None:
    data = b'title,url\n"two\nlines",http://a.example/1\n"a ""quoted"" title",http://a.example/2'
    assert list(records(io.BytesIO(data))[1]) == [
        (2, "http://a.example/1", None, 3),
        (4, "http://a.example/2", None, 4),
    ]


def test_no_good_line_is_lost_to_format_detection() -> None:
    urls = b"http://d.example/a?x=1,url\nhttp://d.example/b\n"
    assert _read(urls) == (
        "lines",
        [(1, "http://d.example/a?x=1,url", False), (2, "http://d.example/b", False)],
    )
    assert _read(b"# photos\n#,url\n1,http://d.example/a\n") == ("csv", [(3, "http://d.example/a", False)])
    assert _read(b"#,url\n1,http://d.example/a\n", "csv") == ("csv", [(2, "http://d.example/a", False)])
    assert _read(b"#,url\nhttp://d.example/a\n", "lines") == ("lines", [(2, "http://d.example/a", False)])


def test_ndjson_skips_comment_lines_after_the_first_object_too() -> None:
    data = b'# export\n{"url": "http://a.example/1"}\n# more\n\n{"url": "http://a.example/2"}\n'
    assert _read(data) == ("ndjson", [(2, "http://a.example/1", False), (5, "http://a.example/2", False)])


def test_a_csv_header_without_url_is_an_error_naming_its_line() -> None:
    with pytest.raises(NoUrlColumn, match="line 3: the CSV header has no url column"):
        _read(b"\n\nid,link\n1,http://a.example/1\n", "csv")


def test_ndjson_takes_the_url_key_and_refuses_the_rest() -> None:
    data = b'{"url": " http://a.example/1 ", "x": 1}\n{"URL": "http://a.example/2"}\n"http://a"\nnull\n'
    assert _read(data)[1] == [
        (1, "http://a.example/1", False),
        (2, None, True),
        (3, None, True),
        (4, None, True),
    ]


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/a.jpg",
        "HTTPS://EXAMPLE.COM:8443/a%20b",
        "http://[::1]/x",
        "http://é.example/ü",
    ],
)
def test_absolute_http_urls_with_a_host_are_good(url: str) -> None:
    assert check_photo_url(url) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "is not an absolute http or https URL"),
        ("example.com/a.jpg", "is not an absolute http or https URL"),
        ("ftp://example.com/a.jpg", "is not an absolute http or https URL"),
        ("file:///etc/passwd", "is not an absolute http or https URL"),
        ("http:///a.jpg", "has no host"),
        ("http://example.com:port/", "is not a valid URL ("),
        ("http://example.com:65536/", "is not a valid URL ("),
        ("http://[::1/", "is not a valid URL ("),
        ("http://example.com/a b.jpg", "holds whitespace or a control character"),
        ("http://example.com/a\tb", "holds whitespace or a control character"),
        ("http://example.com/\x00", "holds whitespace or a control character"),
        ("http://example.com/" + "a" * (MAX_URL_LENGTH - 18), f"is longer than {MAX_URL_LENGTH} characters"),
    ],
)
def test_other_urls_are_refused_with_the_reason(url: str, problem: str) -> None:
    assert (check_photo_url(url) or "").startswith(problem)


def test_a_lone_surrogate_escaped_in_ndjson_is_a_bad_line_not_a_crash() -> None:
    found, rows = records(
        io.BytesIO(b'{"url": "http://a.example/\\ud800"}\n{"url": "http://a.example/ok"}\n')
    )
    assert found == "ndjson"
    assert [(number, url, problem is not None) for number, url, problem, _last in rows] == [
        (1, None, True),
        (2, "http://a.example/ok", False),
    ]


def test_a_url_of_exactly_the_maximum_length_is_good() -> None:
    url = "http://example.com/" + "a" * (MAX_URL_LENGTH - 19)
    assert len(url) == MAX_URL_LENGTH
    assert check_photo_url(url) is None


def test_the_command_line_offers_the_formats_and_loads_the_import_only_to_run_it() -> None:
    from service import cli

    assert cli.IMPORT_FORMATS == FORMATS
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, service.cli; print(sorted(m for m in sys.modules if 'import' in m))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "service.import" not in loaded
