"""The thumbnail suite's cases: each kind of source photo, its corpus files, the methods timed on it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """A kind of source photo, the files of it, and what to measure on them."""

    key: str
    title: str
    files: tuple[str, ...]
    methods: tuple[str, ...]
    rounds: int  # a multiple of the number of methods, so each leads the order as often
    twins: tuple[str, ...] = ()  # the same photos without EXIF rotation, for "ours-upright"


ALL = ("ours", "pyvips", "pyvips-mt", "naive", "floor")
BASIC = ("ours", "pyvips", "naive", "floor")
CASES = (
    Case("jpeg12", "12 MP baseline JPEG", ("jpeg-12mp-0.jpg", "jpeg-12mp-1.jpg", "jpeg-12mp-2.jpg"), ALL, 10),
    Case(
        "rot6",
        "12 MP JPEG, EXIF orientation 6 (same photos)",
        tuple(f"jpeg-12mp-{i}-rot6.jpg" for i in range(3)),
        ("ours", "ours-upright", "pyvips"),
        9,
        twins=tuple(f"jpeg-12mp-{i}.jpg" for i in range(3)),
    ),
    Case(
        "prog12",
        "12 MP progressive JPEG",
        ("jpeg-12mp-0-progressive.jpg", "jpeg-12mp-1-progressive.jpg"),
        BASIC,
        4,
    ),
    Case("jpeg24", "24 MP baseline JPEG", ("jpeg-24mp-0.jpg", "jpeg-24mp-1.jpg"), BASIC, 4),
    Case("jpeg50", "50 MP baseline JPEG", ("jpeg-50mp-0.jpg", "jpeg-50mp-1.jpg"), BASIC, 4),
    Case("png12", "12 MP PNG, RGB", ("png-12mp-0.png", "png-12mp-1.png"), ALL, 5),
    Case("rgba12", "12 MP PNG, RGBA", ("png-12mp-0-rgba.png", "png-12mp-1-rgba.png"), ALL, 5),
    Case(
        "cmyk12", "12 MP CMYK JPEG with embedded ICC profile", ("cmyk-12mp-0.jpg", "cmyk-12mp-1.jpg"), ALL, 5
    ),
)
