"""The renditions suite's quality sweep: the lowest WebP and AVIF qualities that score JPEG's SSIM.

At 320 px (today's thumbnail) every quality of a range is encoded for the corpus's files; the
quality found is the lowest from which every higher one scores at least JPEG's SSIM there (so a
dip of noise does not pick it). A default must hold at every size, so from that quality up the
first one whose SSIM at every preset (160-1280 px) is within bench/renditions_quality.py's
TOLERANCE of JPEG's is found too: that is the one to set.
"""

from __future__ import annotations

import dataclasses

from PIL import Image

from bench import renditions_setup as setup
from bench.renditions_quality import TOLERANCE, Figures, measure, score
from bench.report import Section
from pipeline.formats import FORMATS

SWEEP = {"webp": range(20, 96), "avif": range(20, 81)}
SWEEP_SIZE = 320
Found = dict[str, tuple[int | None, int | None]]  # format -> (at 320 px, at every preset)


def sweep(images: list[Image.Image], name: str) -> dict[int, tuple[float, float]]:
    """For each quality of SWEEP[name]: median bytes and mean SSIM over `images` in format `name`."""
    out = {}
    for quality in SWEEP[name]:
        qualities = dataclasses.replace(setup.QUALITIES, **{name: quality})
        scored = [score(image, FORMATS[name], qualities) for image in images]
        out[quality] = (setup.median([float(b) for b, _ in scored]), sum(s for _, s in scored) / len(scored))
    return out


def matching(swept: dict[int, tuple[float, float]], reference: float) -> int | None:
    """The lowest quality from which every higher one scores at least `reference`."""
    found = None
    for quality in sorted(swept, reverse=True):
        if swept[quality][1] < reference:
            break
        found = quality
    return found


def everywhere(
    images: list[list[tuple[int, Image.Image]]], today: Figures, name: str, start: int
) -> tuple[int, Figures] | None:
    """From `start` up, the first quality of `name` within TOLERANCE of JPEG's SSIM at every size."""
    for quality in range(start, SWEEP[name].stop):
        qualities = dataclasses.replace(setup.QUALITIES, **{name: quality})
        figures = measure(images, qualities, (FORMATS[name],))
        if all(
            value >= today.scores[(size, "jpeg")] - TOLERANCE for (size, _), value in figures.scores.items()
        ):
            return quality, figures
    return None


def run(section: Section, images: list[list[tuple[int, Image.Image]]], today: Figures) -> Found:
    """The sweep's tables; per format, the quality matching JPEG at 320 px and at every preset."""
    jpeg_bytes, jpeg_score = today.bytes[(SWEEP_SIZE, "jpeg")], today.scores[(SWEEP_SIZE, "jpeg")]
    found: Found = {}
    rows, every_rows = [], []
    for name in ("webp", "avif"):
        swept = sweep([dict(sized)[SWEEP_SIZE] for sized in images], name)
        at_320 = matching(swept, jpeg_score)
        for quality, (nbytes, value) in swept.items():
            mark = " ← lowest matching JPEG" if quality == at_320 else ""
            if quality % 5 == 0 or mark:
                rows.append(
                    [name, f"{quality}{mark}", f"{nbytes:,.0f}", f"{nbytes / jpeg_bytes:.2f}", f"{value:.4f}"]
                )
        result = everywhere(images, today, name, at_320) if at_320 is not None else None
        found[name] = (at_320, result[0] if result else None)
        if result:
            quality, figures = result
            for (size, _), nbytes in sorted(figures.bytes.items(), reverse=True):
                difference = figures.scores[(size, name)] - today.scores[(size, "jpeg")]
                every_rows.append(
                    [
                        str(size),
                        f"{name} q{quality}",
                        f"{nbytes:,.0f}",
                        f"{nbytes / today.bytes[(size, 'jpeg')]:.2f}",
                        f"{difference:+.4f}",
                    ]
                )
    section.body += [
        f"Quality sweep at {SWEEP_SIZE} px (every quality of WebP {SWEEP['webp'].start}-"
        f"{SWEEP['webp'].stop - 1} and AVIF {SWEEP['avif'].start}-{SWEEP['avif'].stop - 1} was "
        "encoded; every fifth is shown, and the lowest from which every higher quality scores at "
        f"least JPEG q{setup.QUALITIES.jpeg}'s SSIM, {jpeg_score:.4f}, at {jpeg_bytes:,.0f} bytes):",
        "",
    ]
    section.table(["format", "quality", "median bytes", "÷ JPEG", "SSIM"], rows)
    section.body += [
        "From there up, the first quality whose SSIM is within "
        f"{TOLERANCE} of JPEG q{setup.QUALITIES.jpeg}'s at every preset (the one a default can take):",
        "",
    ]
    section.table(["preset px", "format", "median bytes", "÷ JPEG", "SSIM − JPEG's"], every_rows)
    return found
