"""The thumbnail suite: our function against libvips, naive Pillow and the decode floor.

Methods are timed interleaved (file by file, method by method, round after round, the order
rotating each round) so that drift in the machine's speed and the allocator's state fall on all
of them alike; each figure is a median.
"""

from __future__ import annotations

import gc
import math
import os
import time
from collections.abc import Callable

from PIL import Image, ImageChops, ImageStat

from bench import corpus, methods
from bench import thumbnail_results as results
from bench.report import Section, median_ms
from bench.thumbnail_cases import CASES, Case
from pipeline import thumbnail


def run(*, quick: bool = False) -> Section:
    """Measure every case; return the section for RESULTS.md (peak RSS is the memory suite's)."""
    corpus.ensure()
    section = Section("Thumbnails")
    medians: dict[str, dict[str, float]] = {}
    psnrs: dict[str, dict[str, float]] = {}
    for case in CASES:
        rounds = max(2, case.rounds // 3) if quick else case.rounds
        data = [(corpus.CORPUS_DIR / name).read_bytes() for name in case.files]
        twins = [(corpus.CORPUS_DIR / name).read_bytes() for name in case.twins]
        times, split = _time(case, data, twins, rounds)
        medians[case.key] = {method: median_ms(seconds) for method, seconds in times.items()}
        psnrs[case.key] = _psnr(case, data)
        results.detail(section, case, data, rounds, medians[case.key], psnrs[case.key], split)
        print(
            f"{case.title}: " + ", ".join(f"{m} {v:.1f} ms" for m, v in medians[case.key].items()), flush=True
        )
    results.targets(section, medians, psnrs, {case.key: case.title for case in CASES})
    results.notes(section, medians)
    return section


def _call(method: str) -> Callable[[bytes], object]:
    """The callable timed for `method`."""
    if method == "pyvips-mt":

        def many_threads(data: bytes) -> object:
            methods.pyvips_threads(os.cpu_count() or 1)
            try:
                return methods.vips(data)
            finally:
                methods.pyvips_threads(1)

        return many_threads
    return {
        "ours-upright": methods.ours,
        "ours": lambda data: thumbnail.make_thumbnail(
            data, max_size=methods.MAX_SIZE, quality=methods.QUALITY
        ),
        "pyvips": methods.vips,
        "naive": methods.naive,
        "floor": methods.floor,
    }[method]


def _time(
    case: Case, data: list[bytes], twins: list[bytes], rounds: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Seconds per call of each method, plus our function's own decode/encode split."""
    calls = {method: _call(method) for method in case.methods}
    times: dict[str, list[float]] = {method: [] for method in case.methods}
    split: dict[str, list[float]] = {"decode": [], "encode": []}

    def source(method: str, index: int) -> bytes:
        return twins[index] if method == "ours-upright" else data[index]

    for index in range(len(data)):  # warm-up: plugin set-up and cached ICC transforms out of the figures
        for method, call in calls.items():
            call(source(method, index))
    gc.collect()
    gc.disable()
    try:
        order = list(calls.items())
        for round_ in range(rounds):
            # Each round starts with the next method, so none always follows the same neighbour
            # (the allocator's state after a full-size decode costs the next call page faults).
            shifted = order[round_ % len(order) :] + order[: round_ % len(order)]
            for index in range(len(data)):
                for method, call in shifted:
                    blob = source(method, index)
                    started = time.perf_counter()
                    result = call(blob)
                    times[method].append(time.perf_counter() - started)
                    if isinstance(result, thumbnail.Thumbnail):
                        split["decode"].append(result.decode_s)
                        split["encode"].append(result.encode_s)
    finally:
        gc.enable()
    return times, split


def psnr(image: Image.Image, reference: Image.Image) -> float:
    """Peak signal-to-noise ratio of `image` against `reference` in dB, over all their bands."""
    stat = ImageStat.Stat(ImageChops.difference(image, reference))
    mse = sum(stat.sum2) / (len(stat.sum2) * image.width * image.height)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def _psnr(case: Case, data: list[bytes]) -> dict[str, float]:
    """The lowest PSNR over the case's files for ours and pyvips, before encoding."""
    if case.key == "rot6":
        return {}
    out: dict[str, float] = {}
    for name, pixels in (("ours", methods.ours_pixels), ("pyvips", methods.vips_pixels)):
        values = []
        for blob in data:
            image = pixels(blob)
            reference = methods.reference(blob, image.size)
            if reference.mode == "RGBA":  # compare what shows: colour under alpha 0 is undefined
                image, reference = image.convert("RGBA").convert("RGBa"), reference.convert("RGBa")
            values.append(psnr(image.convert(reference.mode), reference))
        out[name] = min(values)
    return out
