"""The peak memory of one `make_thumbnail` call, measured in a fresh process of its own.

`python -m harness.thumbnail_peak FILE [MAX_DECODE_MB]` imports the thumbnail code and prepares
Pillow, reads FILE, notes its peak RSS (VmHWM: the high-water mark of its own address space), makes
the thumbnail and prints, as JSON, how far the peak rose during the call, the outcome (the error
code when refused) and what the decode budget estimated. `measure(path)` runs it. Memory is a
fact of the code, not of the machine's load: these figures are the same on a busy machine.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def peak_kib() -> int:
    """This process's peak resident set size in KiB (VmHWM)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(path: Path, max_decode_mb: int) -> dict[str, Any]:
    """In the child: thumbnail `path` once; the rise of the peak RSS, the outcome, the estimate."""
    from PIL import Image

    from pipeline.decode_budget import MB
    from pipeline.errors import PhotoError
    from pipeline.thumbnail import decode_bytes, make_thumbnail

    warm_up = io.BytesIO()
    Image.new("RGB", (8, 8)).save(warm_up, "PNG")
    make_thumbnail(warm_up.getvalue())  # Pillow's plugins, pillow-heif, the encoder: not the call's
    data = path.read_bytes()
    before = peak_kib()
    code, size = None, None
    try:
        thumbnail = make_thumbnail(data, max_decode_mb=max_decode_mb)
        size = [thumbnail.width, thumbnail.height]
    except PhotoError as error:
        code = error.code
    rise_mb = (peak_kib() - before) / 1024
    needed = decode_bytes(data)  # after the measure: opening an image costs memory too
    return {
        "code": code,
        "size": size,
        "rise_mb": round(rise_mb, 1),
        "before_mb": round(before / 1024, 1),
        "estimate_mb": round(needed / MB, 1),
        "estimate_bytes": needed,
    }


def measure(path: Path, max_decode_mb: int = 256) -> dict[str, Any]:
    """Run the child on `path` and return what it printed."""
    result = subprocess.run(
        [sys.executable, "-m", "harness.thumbnail_peak", str(path), str(max_decode_mb)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    report: dict[str, Any] = json.loads(result.stdout)
    return report


if __name__ == "__main__":
    print(json.dumps(child(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 256)))
