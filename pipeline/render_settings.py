"""What a photo's renditions were made with, as one short fingerprint kept on the photo.

`fingerprint` hashes everything that changes the bytes of a rendition: the presets (names and
sizes), the formats, the qualities, the encoders' own options and `RENDER_VERSION`, bumped by
hand when the code renders differently (resampling, colour handling). The worker writes it on
the photo as it completes it (photos.rendered_with); a photo whose fingerprint is not the
current one has renditions the settings no longer make, which is what `python -m service
rerender` looks for, with an index range scan rather than a comparison of every photo's rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.presets import Preset
from pipeline.renditions import AVIF_SPEED, WEBP_METHOD, Qualities

if TYPE_CHECKING:
    from config import Config

# Bump when the rendering code changes its output for the same settings.
RENDER_VERSION = 1
# Hex digits kept: 64 bits, so two settings never share one in practice.
FINGERPRINT_HEX = 16


def fingerprint(presets: Sequence[Preset], formats: Sequence[str], qualities: Qualities) -> str:
    """The fingerprint of renditions made with these settings (order does not matter)."""
    canonical = {
        "version": RENDER_VERSION,
        "presets": sorted([preset.name, preset.size] for preset in presets),
        "formats": sorted(formats),
        "quality": [qualities.jpeg, qualities.webp, qualities.avif],
        "encoders": {"webp_method": WEBP_METHOD, "avif_speed": AVIF_SPEED},
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:FINGERPRINT_HEX]


@dataclass(frozen=True)
class RenderSettings:
    """The renditions every photo should have now: RENDITIONS, RENDITION_FORMATS, the qualities."""

    presets: tuple[Preset, ...]
    formats: tuple[str, ...]  # beside the base format (JPEG, or PNG with transparency)
    qualities: Qualities

    @classmethod
    def from_config(cls, config: Config) -> RenderSettings:
        """The settings the service runs with."""
        return cls(
            config.presets,
            config.extra_formats,
            Qualities(config.thumb_quality, config.webp_quality, config.avif_quality),
        )

    @property
    def fingerprint(self) -> str:
        """What photos.rendered_with holds for a photo rendered with these settings."""
        return fingerprint(self.presets, self.formats, self.qualities)
