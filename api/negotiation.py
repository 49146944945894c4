"""Which format of a rendition to send, given the request's `Accept` (pure: no Falcon, no I/O).

`choose_format(accept, available)` picks one of the format names of pipeline/formats.py
(jpeg, png, webp, avif) that a photo has for a preset, or None when the client accepts none.

Reading `Accept` (RFC 9110, 12.5.1), leniently:
- members are separated by commas (outside quoted strings), each a media range `type/subtype`,
  `type/*` or `*/*` with parameters after semicolons; whitespace around the separators is
  ignored, and so is case in the type, the subtype and the parameters' names;
- `q` is the weight: 0 to 1 with at most three decimals, 1 when absent, 0 excluding what the
  range names. A member whose range or weight is malformed (`image`, `*/webp`, `q=2`, `q=.5`)
  is ignored, not the whole header;
- a range with parameters other than `q` (`image/webp;foo=bar`) describes representations with
  those parameters; ours have none, so it matches nothing;
- for each format, the most specific range matching it gives its weight: `image/jpeg` over
  `image/*` over `*/*` (so `image/*;q=0.5, image/jpeg` weighs JPEG 1); of two equally specific
  ranges the higher weight counts.

Choosing:
- AVIF and WebP are sent only to a client that names them (`image/avif`, `image/webp`):
  `*/*` and `image/*` do not reach them. curl, old browsers and many HTTP libraries send only
  wildcards and may not decode either. Browsers that decode them say so (Chrome, Firefox 65+,
  Safari 14+ on macOS 11+; WebKit names AVIF where the system decodes it, macOS 13
  and iOS 16 on);
- the base formats (JPEG; PNG for photos with transparency) take the weight of their own type,
  or else of `image/*`, or else of `*/*`;
- a photo with no base format (one completed before renditions with transparency has only a
  WebP thumbnail) lets the wildcards reach what it has: `*/*` gets that WebP, as
  `/thumbs/{url}` gives it, rather than a 406;
- the highest weight above 0 wins; at equal weight AVIF, then WebP, then PNG, then JPEG (the
  smaller file first; the order of the header's members, which RFC 9110 gives no meaning, is
  not looked at). Chrome, Firefox and Safari's image requests thus get AVIF when there is one;
- no `Accept`, an empty one, or one of which no member could be read: as `*/*`, the base
  format;
- nothing acceptable (`text/html`, or `image/jpeg;q=0` where there is only JPEG): None, for
  the resource to answer 406.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from pipeline.formats import FORMATS

# Formats sent only when the client names their media type.
EXPLICIT_ONLY = frozenset({"avif", "webp"})
# The formats every client reads: one of them is a photo's base format.
BASE_FORMATS = ("jpeg", "png")
# At equal weight, the first of these wins.
PREFERENCE = ("avif", "webp", "png", "jpeg")
# RFC 9110's token (5.6.2) and qvalue (12.4.2).
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")
# How many members of one header are read: a client sends a dozen at most.
MAX_MEMBERS = 64


@dataclass(frozen=True)
class MediaRange:
    """One member of an Accept header."""

    type: str
    subtype: str
    weight: float
    has_parameters: bool  # other than q


def choose_format(accept: str | None, available: Collection[str]) -> str | None:
    """The format of `available` to send to a client sending `accept`; None when none is
    acceptable (see the module's docstring for the rules)."""
    ranges = list(parse_accept(accept or ""))
    if not ranges:
        ranges = [MediaRange("*", "*", 1.0, has_parameters=False)]
    best: str | None = None
    best_weight = 0.0
    has_base = any(name in available for name in BASE_FORMATS)
    for name in sorted((name for name in available if name in PREFERENCE), key=PREFERENCE.index):
        weight = format_weight(ranges, name, explicit_only=EXPLICIT_ONLY if has_base else frozenset())
        if weight > best_weight:
            best, best_weight = name, weight
    return best


def format_weight(
    ranges: list[MediaRange], name: str, *, explicit_only: frozenset[str] = EXPLICIT_ONLY
) -> float:
    """The weight `ranges` give the format `name`: that of the most specific range matching it
    (wildcards never reaching the formats of `explicit_only`)."""
    kind, _, subtype = FORMATS[name].media_type.partition("/")
    specificity = 0
    weight = 0.0
    for media_range in ranges:
        if media_range.has_parameters:
            continue
        if media_range.type == kind and media_range.subtype == subtype:
            found = 3
        elif name in explicit_only:
            continue
        elif media_range.type == kind and media_range.subtype == "*":
            found = 2
        elif media_range.type == "*":
            found = 1
        else:
            continue
        if found > specificity or (found == specificity and media_range.weight > weight):
            specificity, weight = found, media_range.weight
    return weight


def parse_accept(accept: str) -> Iterator[MediaRange]:
    """The well-formed members of an Accept header's value, in order; malformed ones skipped."""
    for count, member in enumerate(_split(accept, ",")):
        if count == MAX_MEMBERS:
            return
        if media_range := _parse_member(member):
            yield media_range


def _parse_member(member: str) -> MediaRange | None:
    """One member (`type/subtype;param=value;q=0.5`), or None when it is malformed."""
    range_text, *parameters = _split(member, ";")
    kind, slash, subtype = range_text.strip().lower().partition("/")
    if not slash or not TOKEN.fullmatch(kind) or not TOKEN.fullmatch(subtype):
        return None
    if kind == "*" and subtype != "*":
        return None
    weight = 1.0
    has_parameters = False
    for parameter in parameters:
        name, equals, value = (part.strip() for part in parameter.partition("="))
        if not equals or not TOKEN.fullmatch(name):
            return None
        if name.lower() == "q":
            if not QVALUE.fullmatch(value):
                return None
            weight = float(value)
        else:
            has_parameters = True
    return MediaRange(kind, subtype, weight, has_parameters=has_parameters)


def _split(text: str, separator: str) -> Iterator[str]:
    """`text` split at `separator` outside double-quoted strings (a parameter's value may be one);
    empty parts (`a,,b`, a trailing comma) left out."""
    start = 0
    quoted = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            if part := text[start:index].strip():
                yield part
            start = index + 1
    if part := text[start:].strip():
        yield part
