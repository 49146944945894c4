"""The renditions suite's bytes part: WebP and AVIF against JPEG at each size, at equal quality.

Each rendition is scored against its own pixels before encoding (bench/renditions_setup.py's
`sized`, the same decode and LANCZOS resizes as make_renditions) by SSIM: scikit-image's
`structural_similarity` with Wang et al.'s settings (an 11-tap Gaussian window of sigma 1.5,
population covariances), over R, G and B, averaged. Why SSIM and not SSIMULACRA2 or
butteraugli: scikit-image is a maintained project with a reviewed SSIM; the only SSIMULACRA2 on
PyPI is a one-author beta port that approximates libjxl's blur, and no maintained butteraugli
binding is there. A file's score is SSIM's mean over the image; a preset's is the mean over files.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity

from bench import renditions_setup as setup
from bench.report import Section, Target
from pipeline.formats import AVIF, JPEG, WEBP, OutputFormat
from pipeline.renditions import Qualities

# A score this far under JPEG's still counts as "no worse": less than one step of JPEG's own
# quality moves it at 320 px (q84 -> q85: +0.003 on the corpus).
TOLERANCE = 0.002
FORMATS = (JPEG, WEBP, AVIF)


def ssim(image: Image.Image, reference: Image.Image) -> float:
    """SSIM of `image` against `reference` (both RGB, the same size), over R, G and B."""
    return float(
        structural_similarity(
            np.asarray(reference.convert("RGB")),
            np.asarray(image.convert("RGB")),
            channel_axis=2,
            data_range=255,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )


def score(image: Image.Image, fmt: OutputFormat, qualities: Qualities) -> tuple[int, float]:
    """The bytes of `image` encoded in `fmt` at `qualities`, and the SSIM of what they decode to."""
    data = setup.encoded(image, fmt, qualities)
    return len(data), ssim(setup.decoded_rgb(data), image)


@dataclasses.dataclass
class Figures:
    """Bytes (median over files) and score (mean over files) per (preset size, format)."""

    bytes: dict[tuple[int, str], float]
    scores: dict[tuple[int, str], float]


def measure(
    images: list[list[tuple[int, Image.Image]]],
    qualities: Qualities,
    formats: tuple[OutputFormat, ...] = FORMATS,
) -> Figures:
    """Every format of `formats` at every size, for each file's sized images (size, image)."""
    raw: dict[tuple[int, str], list[tuple[int, float]]] = {}
    for sized in images:
        for size, image in sized:
            for fmt in formats:
                raw.setdefault((size, fmt.name), []).append(score(image, fmt, qualities))
    return Figures(
        {key: setup.median([float(b) for b, _ in values]) for key, values in raw.items()},
        {key: sum(s for _, s in values) / len(values) for key, values in raw.items()},
    )


def run(section: Section) -> tuple[list[list[tuple[int, Image.Image]]], Figures]:
    """Bytes and scores at today's qualities: the table and the target row; the sized images of
    each file, and the figures (for bench/renditions_sweep.py)."""
    data = setup.load()
    images = [[(p.size, image) for p, image in setup.sized(blob, setup.ALL_SIZES)] for blob in data]
    today = measure(images, setup.QUALITIES)
    sizes = sorted({size for size, _ in today.bytes}, reverse=True)
    q = setup.QUALITIES
    section.body += [
        "### Bytes and quality per preset",
        "",
        f"{len(data)} × 12 MP JPEG at {', '.join(map(str, sizes))} px (the presets of "
        f"sm:160,thumb:320,md:640,lg:1280), JPEG q{q.jpeg}, WebP q{q.webp}, AVIF q{q.avif}: median "
        "bytes over the files, and the SSIM (mean over the files) of each rendition decoded "
        "back against its pixels before encoding (1 = identical).",
        "",
    ]
    rows, met = [], True
    for size in sizes:
        jpeg_bytes, jpeg_score = today.bytes[(size, "jpeg")], today.scores[(size, "jpeg")]
        for fmt in FORMATS:
            nbytes, value = today.bytes[(size, fmt.name)], today.scores[(size, fmt.name)]
            if fmt is not JPEG:
                met &= nbytes < jpeg_bytes and value >= jpeg_score - TOLERANCE
            ratio = nbytes / jpeg_bytes
            rows.append([str(size), fmt.name, f"{nbytes:,.0f}", f"{ratio:.2f}", f"{value:.4f}"])
    section.table(["preset px", "format", "median bytes", "÷ JPEG", "SSIM"], rows)
    worst = {
        name: min(today.scores[(s, name)] - today.scores[(s, "jpeg")] for s in sizes)
        for name in ("webp", "avif")
    }
    section.targets.append(
        Target(
            "WebP and AVIF smaller than JPEG at each preset (160-1280 px), SSIM no worse than JPEG's",
            "; ".join(
                f"{name} ÷ JPEG {min(today.bytes[(s, name)] / today.bytes[(s, 'jpeg')] for s in sizes):.2f}"
                f"-{max(today.bytes[(s, name)] / today.bytes[(s, 'jpeg')] for s in sizes):.2f}, "
                f"SSIM {worst[name]:+.4f} at worst"
                for name in ("webp", "avif")
            ),
            f"< 1 × JPEG's bytes, SSIM ≥ JPEG's − {TOLERANCE}",
            met,
            f"JPEG q{q.jpeg}, WebP q{q.webp}, AVIF q{q.avif}",
        )
    )
    return images, today
