"""The renditions suite's AVIF speed part: libavif's speed setting against time and bytes.

pipeline/renditions.py encodes AVIF at AVIF_SPEED, single-threaded. Here each speed encodes the
same 320 and 640 px renditions (bench/renditions_setup.py's `sized`), interleaved as the other
parts are timed (image by image, the speeds' order rotating each round, medians), at today's
AVIF quality; the SSIM is bench/renditions_quality.py's.
"""

from __future__ import annotations

import gc
import io
import time

from PIL import Image

from bench import renditions_setup as setup
from bench.renditions_quality import ssim
from bench.report import Section, median_ms
from pipeline.renditions import AVIF_SPEED

SPEEDS = (6, 8, 9, 10)
SIZES = (640, 320)


def encode(image: Image.Image, speed: int) -> bytes:
    """`image` as make_renditions encodes AVIF, but at `speed`."""
    out = io.BytesIO()
    image.save(out, "AVIF", quality=setup.QUALITIES.avif, speed=speed, max_threads=1)
    return out.getvalue()


def run(section: Section, rounds: int) -> dict[tuple[int, int], tuple[float, float, float]]:
    """Time every speed at each size; add the table; (size, speed) -> (ms, bytes, SSIM)."""
    images = [
        (preset.size, image)
        for blob in setup.load()
        for preset, image in setup.sized(blob, setup.ALL_SIZES)
        if preset.size in SIZES
    ]
    for _, image in images:  # warm-up
        encode(image, 9)
    times: dict[tuple[int, int], list[float]] = {}
    sizes: dict[tuple[int, int], list[float]] = {}
    scores: dict[tuple[int, int], list[float]] = {}
    gc.collect()
    gc.disable()
    try:
        for round_ in range(rounds):
            order = SPEEDS[round_ % len(SPEEDS) :] + SPEEDS[: round_ % len(SPEEDS)]
            for size, image in images:
                for speed in order:
                    started = time.perf_counter()
                    data = encode(image, speed)
                    times.setdefault((size, speed), []).append(time.perf_counter() - started)
                    if round_ == 0:
                        sizes.setdefault((size, speed), []).append(float(len(data)))
                        scores.setdefault((size, speed), []).append(ssim(setup.decoded_rgb(data), image))
    finally:
        gc.enable()
    out = {
        key: (median_ms(times[key]), setup.median(sizes[key]), sum(scores[key]) / len(scores[key]))
        for key in times
    }
    rows = []
    for size in SIZES:
        base_ms, base_bytes, _ = out[(size, AVIF_SPEED)]
        for speed in SPEEDS:
            ms, nbytes, score = out[(size, speed)]
            mark = " (AVIF_SPEED)" if speed == AVIF_SPEED else ""
            rows.append(
                [
                    str(size),
                    f"{speed}{mark}",
                    f"{ms:.1f}",
                    f"{ms / base_ms:.2f}",
                    f"{nbytes:,.0f}",
                    f"{nbytes / base_bytes:.2f}",
                    f"{score:.4f}",
                ]
            )
    section.body += [
        f"### AVIF encoder speed\n\nAVIF q{setup.QUALITIES.avif}, one thread, {len(images) // len(SIZES)} "
        f"files, {rounds} rounds interleaved; ms is the median per encode, bytes the median over files, "
        f"SSIM the mean; × is against speed {AVIF_SPEED}.",
        "",
    ]
    section.table(["preset px", "speed", "median ms", "× ms", "median bytes", "× bytes", "SSIM"], rows)
    return out
