"""The files `python -m service import` reads: one URL per line, CSV with a `url` column, or NDJSON.

Each format turns a stream of bytes into records `(line number, url, problem)`: the URL when the
line is good, the problem otherwise, so that a bad line is reported by its number and skipped,
never the end of the import. Lines are numbered as an editor numbers them (from 1, blank and
comment lines included). Bytes that are not UTF-8 make their line bad, not the run.

The format is detected from the first line of data (blank lines and lines starting with `#`
before it are skipped, but for a CSV header such as `#,url`): a JSON object is NDJSON, a CSV
header with a `url` field is CSV (unless the line is itself a good URL), anything else one URL
per line. Blank lines and lines starting with `#` are skipped in lines and NDJSON files.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import BinaryIO

from api.validation import check_photo_url

FORMATS = ("auto", "lines", "csv", "ndjson")
NOT_UTF8 = "not UTF-8"
UNCLOSED_QUOTE = 'a quote (") opened and never closed: the rest of the file was read as one field'
# (line number, the URL or None, what is wrong with the line or None, the number of the record's
# last line: the same but for a CSV record over several lines, each of which a bad one makes bad)
Record = tuple[int, str | None, str | None, int]


class NoUrlColumn(ValueError):
    """Raised when a CSV file's header has no `url` field."""


def records(stream: BinaryIO, fmt: str = "auto") -> tuple[str, Iterator[Record]]:
    """The format of `stream` (detected when `fmt` is "auto") and its records, read lazily.
    NoUrlColumn when a CSV header lacks `url`; OSError from reading goes to the caller."""
    numbered = enumerate(stream, 1)
    skipped = 0
    first: tuple[int, bytes] | None = None
    for number, raw in numbered:
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a byte order mark (Excel's CSV)
            raw = raw[3:]
        text = raw.strip()
        if text and (not text.startswith(b"#") or (fmt in ("auto", "csv") and _names_url(raw))):
            first = (number, raw)  # a `#` line naming a url column is a CSV header (`#,url`)
            break
        skipped = number
    if first is None:
        return ("lines" if fmt == "auto" else fmt), iter(())
    if fmt == "auto":
        fmt = _detect(first[1])
    lines = chain([first], numbered)
    if fmt == "csv":
        return fmt, _csv(lines, skipped)
    return fmt, (_ndjson(lines) if fmt == "ndjson" else _plain(lines))


def _detect(line: bytes) -> str:
    """The format whose first line of data `line` is: a good URL is one, even when it reads as a
    CSV header with a `url` field (`http://a.example/?x=1,url`)."""
    text = line.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        return "ndjson"
    return "csv" if _names_url(line) and check_photo_url(text) is not None else "lines"


def _names_url(line: bytes) -> bool:
    """Whether `line` read as a CSV header has a `url` field (stripped, any letter case)."""
    try:
        fields = next(csv.reader([line.decode("utf-8", "replace").strip()]), [])
    except csv.Error:
        return False
    return any(field.strip().lower() == "url" for field in fields)


def _plain(lines: Iterable[tuple[int, bytes]]) -> Iterator[Record]:
    """One URL per line; blank lines and lines starting with `#` are skipped."""
    for number, raw in lines:
        text = raw.strip()
        if not text or text.startswith(b"#"):
            continue
        try:
            url = text.decode()
        except UnicodeDecodeError:
            yield number, None, NOT_UTF8, number
            continue
        yield _checked(number, url)


def _checked(number: int, url: str, last: int | None = None) -> Record:
    """The record of lines `number` to `last` (default: the one line) whose URL is `url`: bad,
    with what is wrong and the URL's start, when check_photo_url refuses it."""
    last = number if last is None else last
    problem = check_photo_url(url)
    if problem is None:
        return number, url, None, last
    return number, None, f"the URL {problem}: {url[:80]!r}" + ("..." if len(url) > 80 else ""), last


def _ndjson(lines: Iterable[tuple[int, bytes]]) -> Iterator[Record]:
    """A JSON object per line, its URL under "url" (other keys ignored); blank lines and lines
    starting with `#` are skipped."""
    for number, raw in lines:
        text = raw.strip()
        if not text or text.startswith(b"#"):
            continue
        try:
            item = json.loads(raw.decode())
        except UnicodeDecodeError:
            yield number, None, NOT_UTF8, number
            continue
        except (ValueError, RecursionError):
            yield number, None, "not valid JSON", number
            continue
        url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(url, str):
            yield number, None, 'not a JSON object with a "url" string', number
            continue
        if not url.isascii() and not _encodable(url):
            yield number, None, "the URL holds an escaped lone surrogate, which is no character", number
            continue
        yield _checked(number, url.strip())


def _encodable(text: str) -> bool:
    """Whether `text` can be written as UTF-8 (JSON's `\\ud800` escapes make strings that cannot)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


class _Lines:
    """Decoded lines for the csv module, remembering the last that was not UTF-8 (a record may
    span lines: it is bad when one of its lines is), those of the record being read, and whether
    the file ended."""

    def __init__(self, lines: Iterable[tuple[int, bytes]]) -> None:
        self._lines = iter(lines)
        self.last_bad = 0
        self.taken: list[str] = []  # emptied by the reader of records before each record
        self.ended = False

    def __iter__(self) -> Iterator[str]:
        for number, raw in self._lines:
            try:
                text = raw.decode()
            except UnicodeDecodeError:
                self.last_bad = number
                text = raw.decode("utf-8", "replace")
            self.taken.append(text)
            yield text
        self.ended = True


def _csv(lines: Iterable[tuple[int, bytes]], skipped: int) -> Iterator[Record]:
    """CSV with a header naming a `url` column (other columns ignored); blank lines are skipped."""
    source = _Lines(lines)
    reader = csv.reader(source)
    header = next(reader)
    names = [field.strip().lower() for field in header]
    if "url" not in names:
        raise NoUrlColumn(f"line {skipped + 1}: the CSV header has no url column: {','.join(header)[:100]}")
    column = names.index("url")
    end = skipped + reader.line_num
    while True:
        start = end + 1
        source.taken = []
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            end = skipped + reader.line_num
            yield start, None, f"not valid CSV ({error})", end
            continue
        end = skipped + reader.line_num
        if source.ended and _unclosed(source.taken):
            # The csv module ends a quote left open at the end of the file: the record took every
            # line after its first, good ones among them.
            yield start, None, UNCLOSED_QUOTE, end
        elif source.last_bad >= start:
            yield start, None, NOT_UTF8, end
        elif not row or (len(row) == 1 and not row[0].strip()):
            continue
        elif len(row) <= column:
            yield start, None, "no url field", end
        else:
            yield _checked(start, row[column].strip(), end)


def _unclosed(record: list[str]) -> bool:
    """Whether the lines of the file's last record leave a quote open (csv's strict mode says so)."""
    try:
        for _ in csv.reader(record, strict=True):
            pass
    except csv.Error as error:
        return "unexpected end of data" in str(error)
    return False
