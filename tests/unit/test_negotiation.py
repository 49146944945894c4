"""Choosing a rendition's format by Accept: real browsers' image requests, wildcards, q-values,
and the malformed headers that must not break it."""

from __future__ import annotations

import pytest

from api.negotiation import MediaRange, choose_format, parse_accept

# What browsers send for an <img> (their image Accept, not their page Accept).
CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
# Safari 16 on macOS 13 / iOS 16 (WebKit adds image/avif where the system decodes it).
SAFARI_16 = "image/webp,image/avif,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
# Safari 17 (whatwg/fetch#1740): JPEG XL and HEIC too.
SAFARI_17 = (
    "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,"
    "image/svg+xml,image/*;q=0.8,*/*;q=0.5"
)
# Safari 14 and 15 on macOS 11+ (mdn/content#5190): WebP, no AVIF.
SAFARI_14 = "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"
FIREFOX_120 = "image/avif,image/webp,*/*"  # Firefox 86 and later
FIREFOX_OLD = "image/webp,*/*"  # Firefox 65 to 85
CURL = "*/*"

JPEG = {"jpeg"}
JPEG_WEBP = {"jpeg", "webp"}
JPEG_WEBP_AVIF = {"jpeg", "webp", "avif"}
PNG_WEBP = {"png", "webp"}
PNG_WEBP_AVIF = {"png", "webp", "avif"}


@pytest.mark.parametrize(
    ("accept", "available", "chosen"),
    [
        (CHROME, JPEG, "jpeg"),
        (CHROME, JPEG_WEBP, "webp"),
        (CHROME, JPEG_WEBP_AVIF, "avif"),
        (CHROME, PNG_WEBP, "webp"),
        (CHROME, {"png"}, "png"),
        # Safari names WebP before AVIF, both at q=1: the order means nothing, AVIF wins the tie.
        (SAFARI_16, JPEG, "jpeg"),
        (SAFARI_16, JPEG_WEBP, "webp"),
        (SAFARI_16, JPEG_WEBP_AVIF, "avif"),
        (SAFARI_16, PNG_WEBP, "webp"),
        (SAFARI_16, {"png"}, "png"),
        (SAFARI_17, JPEG_WEBP_AVIF, "avif"),
        (SAFARI_17, PNG_WEBP, "webp"),
        (SAFARI_17, JPEG, "jpeg"),
        (SAFARI_14, JPEG_WEBP_AVIF, "webp"),
        (SAFARI_14, PNG_WEBP_AVIF, "webp"),
        (SAFARI_14, JPEG, "jpeg"),
        (FIREFOX_120, JPEG, "jpeg"),
        (FIREFOX_120, JPEG_WEBP, "webp"),
        (FIREFOX_120, JPEG_WEBP_AVIF, "avif"),
        (FIREFOX_120, PNG_WEBP_AVIF, "avif"),
        (FIREFOX_OLD, JPEG_WEBP_AVIF, "webp"),
        (FIREFOX_OLD, JPEG, "jpeg"),
        (FIREFOX_OLD, {"png", "avif"}, "png"),
        # curl, HTTP libraries, old browsers: wildcards only, so never WebP or AVIF.
        (CURL, JPEG, "jpeg"),
        (CURL, JPEG_WEBP_AVIF, "jpeg"),
        (CURL, PNG_WEBP_AVIF, "png"),
        ("image/*", JPEG_WEBP_AVIF, "jpeg"),
        (None, JPEG, "jpeg"),
        (None, JPEG_WEBP_AVIF, "jpeg"),
        (None, PNG_WEBP_AVIF, "png"),
        ("", JPEG_WEBP_AVIF, "jpeg"),
        ("   ", PNG_WEBP, "png"),
    ],
)
def test_each_browser_gets_the_best_format_it_names(
    accept: str | None, available: set[str], chosen: str
) -> None:
    assert choose_format(accept, available) == chosen


@pytest.mark.parametrize(
    ("accept", "available", "chosen"),
    [
        # The highest weight wins, whatever the order.
        ("image/avif;q=0.5,image/webp;q=0.9,image/jpeg;q=0.7", JPEG_WEBP_AVIF, "webp"),
        ("image/avif;q=0.5,image/webp;q=0.4,*/*;q=0.8", JPEG_WEBP_AVIF, "jpeg"),
        ("image/jpeg;q=0.9,image/avif", JPEG_WEBP_AVIF, "avif"),
        ("image/webp,image/jpeg;q=1", JPEG_WEBP, "webp"),  # a tie: WebP before the base
        ("image/webp;q=0.5,image/avif;q=0.5", JPEG_WEBP_AVIF, "avif"),  # a tie: AVIF first
        # q=0 excludes; a specific type's weight beats a wildcard's for it.
        ("image/avif;q=0,image/webp;q=0,*/*", JPEG_WEBP_AVIF, "jpeg"),
        ("image/avif;q=0,image/*", JPEG_WEBP_AVIF, "jpeg"),
        ("image/jpeg;q=0,*/*", JPEG, None),
        ("image/jpeg;q=0", JPEG, None),
        ("image/jpeg;q=0,image/webp;q=0.1", JPEG_WEBP, "webp"),
        ("image/*;q=0.1,image/jpeg", JPEG_WEBP, "jpeg"),
        ("image/*;q=0,*/*", JPEG, None),  # image/* is more specific than */* for JPEG
        ("*/*;q=0,image/png", PNG_WEBP, "png"),
        ("image/*;q=0.3,*/*;q=0.9", JPEG, "jpeg"),
        # Of two equally specific ranges the higher weight counts.
        ("image/webp;q=0.2,image/webp;q=0.9,image/jpeg;q=0.5", JPEG_WEBP, "webp"),
        # Nothing acceptable: the resource answers 406.
        ("text/html", JPEG_WEBP_AVIF, None),
        ("text/html,application/xhtml+xml,application/json", JPEG_WEBP_AVIF, None),
        ("text/*", JPEG, None),
        ("image/webp", JPEG, None),
        ("image/avif", PNG_WEBP, None),
        ("image/png", JPEG, None),
        # Only what is available is chosen; names the negotiation does not know are never chosen.
        ("image/webp", {"webp"}, "webp"),
        (CURL, {"webp", "avif"}, "avif"),  # no base format: wildcards reach what there is
        (CURL, set(), None),
        (CURL, {"gif"}, None),
    ],
)
def test_weights_decide_and_zero_excludes(accept: str, available: set[str], chosen: str | None) -> None:
    assert choose_format(accept, available) == chosen


@pytest.mark.parametrize(
    ("accept", "available", "chosen"),
    [
        # Whitespace around separators, and case, mean nothing.
        ("  IMAGE/WEBP ; Q=0.9 ,\t image/JPEG;q=0.5  ", JPEG_WEBP, "webp"),
        ("Image/Avif, */*; q=0.8", JPEG_WEBP_AVIF, "avif"),
        ("image/webp ;q=0.9", JPEG_WEBP, "webp"),
        # Malformed members are skipped, not the whole header.
        ("image/webp;q=2,image/jpeg", JPEG_WEBP, "jpeg"),
        ("image/webp;q=.5,image/jpeg;q=0.1", JPEG_WEBP, "jpeg"),
        ("image/webp;q=0.5000,image/jpeg;q=0.1", JPEG_WEBP, "jpeg"),  # four decimals
        ("image/webp;q=-1,image/jpeg;q=0.1", JPEG_WEBP, "jpeg"),
        ("image/webp;q=abc,image/jpeg;q=0.1", JPEG_WEBP, "jpeg"),
        ("image/webp;q,image/jpeg;q=0.1", JPEG_WEBP, "jpeg"),
        ("webp,image/jpeg;q=0.1", JPEG_WEBP, "jpeg"),
        ("*/webp,image/jpeg;q=0.1", JPEG_WEBP, "jpeg"),
        ("image/,image/jpeg;q=0.1", JPEG_WEBP, "jpeg"),
        ("image/we bp,image/jpeg;q=0.1", JPEG_WEBP, "jpeg"),
        (",,image/webp,,", JPEG_WEBP, "webp"),
        ("image/webp;;q=0.5;", JPEG_WEBP, "webp"),
        # Nothing readable at all: as if there were no Accept.
        ("garbage", JPEG_WEBP_AVIF, "jpeg"),
        ("\x00\xff;;,", JPEG_WEBP, "jpeg"),
        # A range with parameters matches only representations with them; ours have none.
        ("image/webp;foo=bar,image/jpeg;q=0.1", JPEG_WEBP, "jpeg"),
        ("image/avif;codecs=av01;q=1,*/*;q=0.5", JPEG_WEBP_AVIF, "jpeg"),
        ("image/jpeg;charset=x", JPEG, None),
        # A quoted parameter may hold commas and semicolons.
        ('text/html;x="a,image/webp;q=1",image/jpeg', JPEG_WEBP, "jpeg"),
        ('text/html;x="a\\",image/webp",image/webp;q=0.9', JPEG_WEBP, "webp"),
    ],
)
def test_whitespace_case_and_malformed_parts(accept: str, available: set[str], chosen: str | None) -> None:
    assert choose_format(accept, available) == chosen


def test_the_parsed_members_keep_their_weights_and_parameters() -> None:
    assert list(parse_accept('image/webp;q=0.5, */*;Q=0 , text/html;level="1";q=0.25, bad')) == [
        MediaRange("image", "webp", 0.5, has_parameters=False),
        MediaRange("*", "*", 0.0, has_parameters=False),
        MediaRange("text", "html", 0.25, has_parameters=True),
    ]


def test_a_header_of_thousands_of_members_is_read_only_so_far() -> None:
    accept = ",".join(["text/html"] * 10_000 + ["image/webp"])
    assert choose_format(accept, JPEG_WEBP) is None
    assert len(list(parse_accept(accept))) == 64


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [("*/*", "webp"), (None, "webp"), ("image/*", "webp"), (CHROME, "webp"), ("image/webp;q=0, */*", None)],
)
def test_a_photo_with_only_a_webp_from_before_renditions_is_served_to_wildcards(
    accept: str | None, chosen: str | None
) -> None:
    """Completed before renditions with transparency: its one thumbnail is a WebP, which
    /thumbs/{url} serves to anyone; its preset serves it to wildcards too, not a 406."""
    assert choose_format(accept, {"webp"}) == chosen


def test_with_a_base_format_wildcards_still_never_reach_webp() -> None:
    assert choose_format("*/*", {"webp", "jpeg"}) == "jpeg"
    assert choose_format("image/*", {"webp", "png"}) == "png"
