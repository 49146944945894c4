"""The benchmark corpus: photo-like images generated with Pillow alone, cached in bench/corpus/.

"Photo-like": smooth colour fields, hard-edged shapes, thin lines and mild sensor-like noise,
which at JPEG quality 90 gives ~1.7 bits per pixel, as in the measurements of
docs/THUMBNAILS.md. Real camera files are denser (2-5 MB per 12 MP) and decode 1.5-2x slower;
since decoding dominates for every method alike, the ratios move less than the times.
"""

from __future__ import annotations

import io
import random
import statistics
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageCms, ImageDraw, ImageFilter

from pipeline.colour import DEFAULT_CMYK_PROFILE

CORPUS_DIR = Path(__file__).with_name("corpus")
VERSION = "1"  # change to regenerate cached corpora after changing the generator

MP12 = (4000, 3000)
MP24 = (6000, 4000)
MP50 = (8688, 5792)  # the sensor of a 50 MP camera (Canon EOS 5DS)

ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class Spec:
    """One corpus file: its name, the generated photo it holds and how it is encoded."""

    name: str
    size: tuple[int, int]
    seed: int
    kind: str  # jpeg, progressive, rot6, png, rgba, cmyk

    @property
    def path(self) -> Path:
        """Where the file lives in the corpus directory."""
        return CORPUS_DIR / self.name


def specs() -> list[Spec]:
    """Every file of the corpus."""
    out = [Spec(f"jpeg-12mp-{i}.jpg", MP12, i, "jpeg") for i in range(3)]
    out += [Spec(f"jpeg-12mp-{i}-rot6.jpg", MP12, i, "rot6") for i in range(3)]
    out += [Spec(f"jpeg-12mp-{i}-progressive.jpg", MP12, i, "progressive") for i in range(2)]
    out += [Spec(f"jpeg-24mp-{i}.jpg", MP24, 10 + i, "jpeg") for i in range(2)]
    out += [Spec(f"jpeg-50mp-{i}.jpg", MP50, 20 + i, "jpeg") for i in range(2)]
    out += [Spec(f"png-12mp-{i}.png", MP12, 30 + i, "png") for i in range(2)]
    out += [Spec(f"png-12mp-{i}-rgba.png", MP12, 40 + i, "rgba") for i in range(2)]
    out += [Spec(f"cmyk-12mp-{i}.jpg", MP12, 50 + i, "cmyk") for i in range(2)]
    return out


def ensure(log: bool = True, names: Collection[str] = ()) -> list[Spec]:
    """Generate whatever corpus file is missing (or from an older generator), or only those of
    `names`; return all specs."""
    CORPUS_DIR.mkdir(exist_ok=True)
    stamp = CORPUS_DIR / "VERSION"
    stale = stamp.exists() and stamp.read_text().strip() != VERSION
    for spec in specs():
        if names and spec.name not in names:
            continue
        if stale or not spec.path.exists():
            if log:
                print(f"generating {spec.path}", flush=True)
            spec.path.write_bytes(encode(spec))
    if not names or not stamp.exists():  # a stale corpus is current once every file was made again
        stamp.write_text(VERSION + "\n")
    return specs()


def encode(spec: Spec) -> bytes:
    """The bytes of one corpus file."""
    photo = photo_like(spec.size, spec.seed)
    out = io.BytesIO()
    if spec.kind in ("jpeg", "rot6", "progressive"):
        exif = Image.Exif()
        if spec.kind == "rot6":
            exif[ORIENTATION_TAG] = 6  # same pixels and scans as the unrotated file, tag added
        photo.save(out, "JPEG", quality=90, progressive=spec.kind == "progressive", exif=exif)
    elif spec.kind == "png":
        photo.save(out, "PNG")
    elif spec.kind == "rgba":
        photo.putalpha(vignette(spec.size))
        photo.save(out, "PNG")
    elif spec.kind == "cmyk":
        profile = ImageCms.ImageCmsProfile(str(DEFAULT_CMYK_PROFILE))
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        cmyk = ImageCms.profileToProfile(photo, srgb, profile, outputMode="CMYK")
        assert cmyk is not None
        cmyk.save(out, "JPEG", quality=90, icc_profile=profile.tobytes())
    else:
        raise ValueError(f"unknown corpus kind {spec.kind!r}")
    return out.getvalue()


def photo_like(size: tuple[int, int], seed: int, noise: float = 4.0) -> Image.Image:
    """A deterministic RGB image with the statistics of a photo: fields, edges, lines, noise."""
    rng = random.Random(seed)
    width, height = size
    field = Image.new("RGB", (6, 5))
    field.putdata([_colour(rng) for _ in range(30)])
    image = field.resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        box = (
            x0,
            y0,
            x0 + rng.randrange(width // 20, width // 3),
            y0 + rng.randrange(height // 20, height // 3),
        )
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=_colour(rng))
    for _ in range(300):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        end = (x0 + rng.randrange(-width // 10, width // 10), y0 + rng.randrange(-height // 10, height // 10))
        draw.line((x0, y0, *end), fill=_colour(rng), width=rng.randrange(1, 4))
    image = image.filter(ImageFilter.BoxBlur(1))
    grain = _noise(rng, size, noise)
    return ImageChops.add(image, Image.merge("RGB", (grain, grain, grain)), offset=-128)


def vignette(size: tuple[int, int]) -> Image.Image:
    """An alpha mask: opaque centre fading to fully transparent corners, like a cut-out."""
    radial = Image.radial_gradient("L").resize(size, Image.Resampling.BICUBIC)  # 0 centre, 255 edge
    return radial.point(lambda value: max(0, min(255, 255 - (value - 160) * 4)))


def _colour(rng: random.Random) -> tuple[int, int, int]:
    """A random colour."""
    return rng.randrange(256), rng.randrange(256), rng.randrange(256)


def _noise(rng: random.Random, size: tuple[int, int], sigma: float) -> Image.Image:
    """Gaussian grain around 128 of deviation `sigma`, tiled from a seeded 1021 px square."""
    normal = statistics.NormalDist(128, sigma)
    lut = [max(0, min(255, round(normal.inv_cdf((i + 0.5) / 256)))) for i in range(256)]
    tile = Image.frombytes("L", (1021, 1021), rng.randbytes(1021 * 1021)).point(lut)
    grain = Image.new("L", size)
    for y in range(0, size[1], tile.height):
        for x in range(0, size[0], tile.width):
            grain.paste(tile, (x, y))
    return grain
