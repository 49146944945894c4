"""The renditions suite's cost part: a photo's renditions against today's single thumbnail.

Four methods, timed interleaved as bench/thumbnails.py times its own (file by file, the order
rotating each round, medians, the collector off): today's `make_thumbnail` (one 320 px JPEG),
`make_renditions` with the default RENDITIONS x RENDITION_FORMATS (webp), the same with
webp,avif, and the steps of the latter timed one by one (decode and resize, each format's
encodes over the presets, the placeholder), to show where the time goes.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from bench import renditions_setup as setup
from bench.report import Section, Target, median_ms
from pipeline.formats import AVIF, JPEG, WEBP
from pipeline.placeholder import make_placeholder
from pipeline.renditions import Rendered, make_renditions
from pipeline.thumbnail import make_thumbnail

STEPS = ("decode + resize", "encode jpeg", "encode webp", "encode avif", "placeholder")
RATIO_TARGETS = {"webp": 1.25, "webp,avif": 1.6}
PLACEHOLDER_MS = 2.0


def _renditions(formats: tuple[str, ...]) -> Callable[[bytes], Rendered]:
    """make_renditions of the default presets in `formats`, at the default settings."""

    def call(data: bytes) -> Rendered:
        return make_renditions(
            data,
            setup.PRESETS,
            formats,
            qualities=setup.QUALITIES,
            max_pixels=setup.MAX_PIXELS,
            max_decode_mb=setup.MAX_DECODE_MB,
        )

    return call


def _thumbnail(data: bytes) -> object:
    """Today's thumbnail: one 320 px progressive JPEG at quality 85."""
    return make_thumbnail(
        data,
        max_size=setup.THUMB_SIZE,
        quality=setup.QUALITIES.jpeg,
        max_pixels=setup.MAX_PIXELS,
        max_decode_mb=setup.MAX_DECODE_MB,
    )


def _steps(data: bytes, times: dict[str, list[float]]) -> None:
    """make_renditions' work for webp,avif, step by step, each step's seconds added to `times`."""
    started = time.perf_counter()
    sized = setup.sized(data, setup.PRESETS)
    times["decode + resize"].append(time.perf_counter() - started)
    for fmt in (JPEG, WEBP, AVIF):
        started = time.perf_counter()
        for _, image in sized:
            setup.encoded(image, fmt)
        times[f"encode {fmt.name}"].append(time.perf_counter() - started)
    smallest = sized[-1][1]
    started = time.perf_counter()
    make_placeholder(smallest)
    times["placeholder"].append(time.perf_counter() - started)


def measure(data: list[bytes], rounds: int) -> dict[str, list[float]]:
    """Seconds per photo of each method, and of each step, and make_renditions' own split."""
    calls: dict[str, Callable[[bytes], object]] = {
        "thumbnail": _thumbnail,
        "webp": _renditions(setup.FORMATS),
        "webp,avif": _renditions(setup.WITH_AVIF),
        "steps": lambda blob: _steps(blob, times),
    }
    times: dict[str, list[float]] = {name: [] for name in (*calls, *STEPS)}
    for name in RATIO_TARGETS:
        times[f"{name}: decode_s"], times[f"{name}: encode_s"] = [], []
    for blob in data:  # warm-up: plugins, encoders, the placeholder's cosine tables
        for call in calls.values():
            call(blob)
    times.update({name: [] for name in times})
    gc.collect()
    gc.disable()
    try:
        order = list(calls.items())
        for round_ in range(rounds):
            shifted = order[round_ % len(order) :] + order[: round_ % len(order)]
            for blob in data:
                for name, call in shifted:
                    started = time.perf_counter()
                    result = call(blob)
                    times[name].append(time.perf_counter() - started)
                    if isinstance(result, Rendered):
                        times[f"{name}: decode_s"].append(result.decode_s)
                        times[f"{name}: encode_s"].append(result.encode_s)
    finally:
        gc.enable()
    return times


def report(section: Section, times: dict[str, list[float]], files: int, rounds: int) -> None:
    """The cost table, where the time goes, and the target rows (ratios, the placeholder)."""
    ms = {name: median_ms(seconds) for name, seconds in times.items() if seconds}
    thumb = ms["thumbnail"]
    preset_text = setup.RENDITIONS
    for name, limit in RATIO_TARGETS.items():
        ratio = ms[name] / thumb
        section.targets.append(
            Target(
                f"renditions {preset_text} × {name} against today's thumbnail, 12 MP JPEG",
                f"{ratio:.2f} × ({ms[name]:.1f} vs {thumb:.1f} ms)",
                f"≤ {limit} × today's thumbnail",
                ratio <= limit,
                f"JPEG + {name} at {preset_text}; make_renditions' own split: decode + resize "
                f"{ms[f'{name}: decode_s']:.1f} ms, encode + placeholder {ms[f'{name}: encode_s']:.1f} ms",
            )
        )
    placeholder = ms["placeholder"]
    section.targets.append(
        Target(
            "placeholder (make_placeholder) on the smallest rendition, 12 MP JPEG",
            f"{placeholder:.2f} ms (median)",
            f"≤ {PLACEHOLDER_MS:g} ms per photo",
            placeholder <= PLACEHOLDER_MS,
            "its own time, on the 160x120 sm image",
        )
    )
    section.body += [
        "### Cost per photo",
        "",
        f"{files} × 12 MP JPEG (the corpus's jpeg-12mp-*), {rounds} rounds, interleaved (file by "
        "file, the methods' order rotating each round), medians per call, one thread. Qualities "
        f"JPEG {setup.QUALITIES.jpeg}, WebP {setup.QUALITIES.webp}, AVIF {setup.QUALITIES.avif} "
        "(config.py's defaults); WEBP_METHOD and AVIF_SPEED as pipeline/renditions.py sets them.",
        "",
    ]
    rows = [
        ["today: make_thumbnail, one 320 px JPEG", f"{thumb:.1f}", "1.00"],
        *(
            [f"make_renditions {preset_text}, JPEG + {name}", f"{ms[name]:.1f}", f"{ms[name] / thumb:.2f}"]
            for name in RATIO_TARGETS
        ),
    ]
    section.table(["method", "median ms", "× today"], rows)
    section.body += [
        f"Where the time goes in make_renditions {preset_text} × JPEG + webp,avif, step by step "
        "(the same steps called one by one, in the same rotation; each format's encodes summed "
        "over the presets):",
        "",
    ]
    total = sum(ms[step] for step in STEPS)
    section.table(
        ["step", "median ms", "share"],
        [[step, f"{ms[step]:.2f}", f"{ms[step] / total:.0%}"] for step in STEPS]
        + [["sum of the steps' medians", f"{total:.1f}", ""]],
    )
