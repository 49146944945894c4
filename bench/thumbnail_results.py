"""The thumbnail suite's share of RESULTS.md: per-case tables, target rows, and how to read them."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

from bench.report import Section, Target, median_ms

if TYPE_CHECKING:
    from bench.thumbnail_cases import Case

LABELS = {
    "ours": "ours (`make_thumbnail`)",
    "ours-upright": "ours, on the same photos without the tag",
    "pyvips": "pyvips `thumbnail_buffer`, 1 thread",
    "pyvips-mt": f"pyvips `thumbnail_buffer`, {os.cpu_count()} threads",
    "naive": "naive Pillow (full decode, LANCZOS)",
    "floor": "decode alone at our scale (floor)",
}


def detail(
    section: Section,
    case: Case,
    data: list[bytes],
    rounds: int,
    medians: dict[str, float],
    psnrs: dict[str, float],
    split: dict[str, list[float]],
) -> None:
    """The case's table: each method's median, its ratio to libvips and to the floor, its PSNR."""
    baseline = libvips_ms(medians)
    megabytes = sum(len(blob) for blob in data) / len(data) / 1e6
    section.body.append(
        f"### {case.title}\n\n{len(data)} files ({megabytes:.1f} MB each on average), "
        f"{rounds} rounds; PSNR is the lowest over the files, before encoding, against a full "
        "decode + LANCZOS to the same size."
    )
    section.body.append("")
    rows = []
    for method in case.methods:
        ratio = f"{medians[method] / baseline:.2f}" if baseline else ""
        floor = f"{medians[method] / medians['floor']:.2f}" if "floor" in medians else ""
        value = psnrs.get(method)
        shown = "" if value is None else ("identical" if math.isinf(value) else f"{value:.1f}")
        rows.append([LABELS[method], f"{medians[method]:.1f}", ratio, floor, shown])
    section.table(["method", "median ms", "× libvips", "× floor", "PSNR dB"], rows)
    if split["decode"]:
        decode, encode = median_ms(split["decode"]), median_ms(split["encode"])
        where = f"open + decode + resize + colour + rotate {decode:.1f} ms, encode {encode:.1f} ms"
        if "floor" in medians and decode >= medians["floor"]:
            where += (
                f"; of the first, decoding alone (floor) {medians['floor']:.1f} ms, so resize + colour "
                f"+ rotate ≈ {decode - medians['floor']:.1f} ms"
            )
        section.body += [f"Ours, where the time goes: {where}.", ""]


def libvips_ms(medians: dict[str, float]) -> float | None:
    """libvips' time: the faster of its single-threaded and default-threaded runs."""
    values = [medians[key] for key in ("pyvips", "pyvips-mt") if key in medians]
    return min(values) if values else None


def targets(
    section: Section,
    medians: dict[str, dict[str, float]],
    psnrs: dict[str, dict[str, float]],
    titles: dict[str, str],
) -> None:
    """The rows of issue 4's targets that this suite measures (the RSS rows are the memory suite's, bench/rss.py)."""

    def versus_vips(key: str, limit: float) -> Target:
        ours, vips = medians[key]["ours"], libvips_ms(medians[key]) or math.nan
        return Target(
            f"thumbnail, {titles[key]}",
            f"{ours / vips:.2f} × libvips ({ours:.1f} vs {vips:.1f} ms)",
            f"≤ {limit} × libvips",
            ours <= limit * vips,
        )

    row = versus_vips("jpeg12", 0.9)
    quality = psnrs["jpeg12"]["ours"]
    section.targets.append(Target(row.measure, row.value, row.target, row.met))
    section.targets.append(
        Target("thumbnail, 12 MP baseline JPEG: PSNR", f"{quality:.1f} dB", "≥ 44 dB", quality >= 44)
    )
    section.targets.append(versus_vips("png12", 1.1))
    section.targets.append(versus_vips("rgba12", 1.1))
    rotated, upright = medians["rot6"]["ours"], medians["rot6"]["ours-upright"]
    section.targets.append(
        Target(
            "thumbnail, EXIF-rotated 12 MP JPEG",
            f"{rotated / upright:.2f} × unrotated ({rotated:.1f} vs {upright:.1f} ms)",
            "≤ 1.1 × unrotated",
            rotated <= 1.1 * upright,
        )
    )
    section.targets.append(versus_vips("cmyk12", 0.7))
    colours = psnrs["cmyk12"]["ours"]
    section.targets.append(
        Target(
            "thumbnail, CMYK JPEG: colours (PSNR vs full-size ICC conversion)",
            f"{colours:.1f} dB",
            "≥ 40 dB",
            colours >= 40,
            "our operational reading of 'colours right'",
        )
    )


def notes(section: Section, medians: dict[str, dict[str, float]]) -> None:
    """How to read the figures, with the ones that explain the misses."""
    jpeg, png, rgba = medians["jpeg12"], medians["png12"], medians["rgba12"]
    png_vips, rgba_vips = libvips_ms(png) or math.nan, libvips_ms(rgba) or math.nan
    section.body += [
        "### Reading these figures",
        "",
        "- PSNR compares the thumbnail *before* encoding with a full decode + LANCZOS to the same size "
        "(for CMYK: a full-size lcms conversion through the embedded profile first). The q85 encoding is "
        "left out: it costs every method alike and alone gives 28-40 dB on these images.",
        "- libvips is pyvips-binary's build (its own libjpeg-turbo, libspng, zlib-ng), operation cache off; "
        "the baseline is the faster of its 1-thread and default-thread runs.",
        f"- JPEG: every method is bound by Huffman decoding, which no DCT scale skips. Our decode alone "
        f"takes {jpeg['floor']:.1f} ms of our {jpeg['ours']:.1f}; the rest is the LANCZOS resize from 1/8 "
        "scale (~2 ms) and the progressive encode (~1 ms). Denser real camera files widen the decoding "
        "share for every method and bring the ratios towards 1.",
        f"- PNG: Pillow's decode alone takes {png['floor']:.0f} ms, {png['floor'] / png_vips:.2f} × "
        "libvips' whole thumbnail, so 1.1 × is out of reach for any Pillow pipeline on this machine. "
        "Profiled with perf, ~60 % of Pillow's PNG decode is inflate in the system zlib (Debian's "
        "1.2.13): Pillow's manylinux wheel, built for zlib-ng, links libz.so.1, which resolves to the "
        "system's. libvips brings zlib-ng and libspng, and streams the rows through its shrink instead "
        "of allocating the full image.",
        f"- RGBA PNG: the decode alone is {rgba['floor'] / rgba_vips:.2f} × libvips' whole thumbnail, "
        "which leaves no room for what alpha needs on top: Pillow premultiplies the full-size image "
        "before reducing it (~30 ms at 12 MP; without it transparent pixels' colours bleed into the "
        "edges), and the WebP encode with its lossless alpha plane takes ~12 ms.",
        "",
    ]
