"""The renditions suite (issue 19): what rendering each photo in several sizes and formats costs.

Four parts, one run: the time per photo of the default RENDITIONS x RENDITION_FORMATS, and of
the same with AVIF, against today's single thumbnail, with where the time goes and the
placeholder's own time (bench/renditions_cost.py); WebP's and AVIF's bytes against JPEG's at
each preset size at an equal SSIM (bench/renditions_quality.py), with a quality sweep
(bench/renditions_sweep.py); AVIF's encoder speeds (bench/renditions_avif.py); peak RSS on the
memory suite's largest sources (bench/renditions_rss.py).
"""

from __future__ import annotations

from bench import renditions_avif, renditions_cost, renditions_quality, renditions_rss, renditions_sweep
from bench import renditions_setup as setup
from bench.report import Section
from pipeline.renditions import AVIF_SPEED, WEBP_METHOD

ROUNDS = 40
AVIF_ROUNDS = 5


def run(*, quick: bool = False) -> Section:
    """Measure every part; return the section for RESULTS.md."""
    section = Section("Renditions")
    data = setup.load()
    rounds = 3 if quick else ROUNDS
    print(f"renditions: timing {len(data)} files x {rounds} rounds", flush=True)
    renditions_cost.report(section, renditions_cost.measure(data, rounds), len(data), rounds)
    print("renditions: bytes and SSIM per preset, quality sweep", flush=True)
    images, today = renditions_quality.run(section)
    found = renditions_sweep.run(section, images, today)
    print("renditions: AVIF speeds", flush=True)
    speeds = renditions_avif.run(section, 2 if quick else AVIF_ROUNDS)
    print("renditions: peak RSS", flush=True)
    renditions_rss.run(section)
    _summary(section, found, speeds)
    return section


def _summary(
    section: Section, found: renditions_sweep.Found, speeds: dict[tuple[int, int], tuple[float, float, float]]
) -> None:
    """What the figures say about the settings: qualities at JPEG's SSIM, the AVIF speed."""
    q = setup.QUALITIES
    lines = [
        "### What follows for the settings",
        "",
        f"- WebP: q{found['webp'][0]} scores JPEG q{q.jpeg}'s SSIM at 320 px, q{found['webp'][1]} "
        f"at every preset within {renditions_quality.TOLERANCE} (WEBP_QUALITY is {q.webp}).",
        f"- AVIF: q{found['avif'][0]} at 320 px, q{found['avif'][1]} at every preset (AVIF_QUALITY "
        f"is {q.avif}).",
    ]
    for size in renditions_avif.SIZES:
        ms9, bytes9, _ = speeds[(size, AVIF_SPEED)]
        others = ", ".join(
            f"speed {speed} {speeds[(size, speed)][0]:.1f} ms / {speeds[(size, speed)][1]:,.0f} B"
            for speed in renditions_avif.SPEEDS
            if speed != AVIF_SPEED
        )
        lines.append(f"- AVIF at {size} px: speed {AVIF_SPEED} {ms9:.1f} ms / {bytes9:,.0f} B; {others}.")
    lines += [
        f"- WebP is encoded at method {WEBP_METHOD} (pipeline/renditions.py); SSIM here is measured "
        "on the synthetic corpus, whose sensor-like grain the encoders smooth: real photos may "
        "rank the formats' qualities differently.",
        "",
    ]
    section.body += lines
