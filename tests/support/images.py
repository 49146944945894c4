"""Images made by the tests themselves."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


def photo_bytes(width: int, height: int, *, fmt: str = "JPEG", mode: str = "RGB", **save: object) -> bytes:
    """A photo-like image (a gradient with a few shapes) of the given size, encoded."""
    image = Image.linear_gradient("L").resize((width, height)).convert(mode)
    draw = ImageDraw.Draw(image)
    draw.ellipse([width // 4, height // 4, width // 2, height // 2], fill="red" if mode != "L" else 90)
    draw.rectangle([width // 2, height // 2, width - 1, height - 1], outline="blue" if mode != "L" else 200)
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()
