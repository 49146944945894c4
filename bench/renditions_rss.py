"""The renditions suite's memory part: peak RSS of one make_renditions call, in a fresh child each.

Run as `python -m bench.renditions_rss FILE PRESETS FORMATS`: the child imports what the worker
imports (bench/rss.py's WORKER_IMPORTS), renders FILE once at PRESETS (a RENDITIONS value) in
FORMATS (a RENDITION_FORMATS value) at the default settings, and prints its whole peak RSS
(VmHWM) and what it made, as JSON. The targets are the memory suite's for today's thumbnail,
whose figure is measured again beside, in the same run (bench/rss.py's child).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import subprocess
import sys
from pathlib import Path

from bench import rss
from bench.report import Section, Target
from harness.thumbnail_peak import peak_kib

ROOT = Path(__file__).resolve().parent.parent
SETS = (("sm:160,thumb:320", "webp"), ("sm:160,thumb:320@2x,lg:1280", "webp,avif"))


def child(path: str, presets: str, formats: str) -> dict[str, object]:
    """In the child: import as the worker does, render `path` once; peak RSS and the outcome."""
    for name in rss.WORKER_IMPORTS:
        with contextlib.suppress(ImportError):  # as bench/rss.py: a missing module is skipped
            importlib.import_module(name)
    from bench import renditions_setup as setup
    from pipeline.errors import PhotoError
    from pipeline.presets import parse_formats, parse_renditions
    from pipeline.renditions import make_renditions

    try:
        rendered = make_renditions(
            Path(path).read_bytes(),
            parse_renditions(presets),
            parse_formats(formats),
            qualities=setup.QUALITIES,
            max_pixels=setup.MAX_PIXELS,
            max_decode_mb=setup.MAX_DECODE_MB,
        )
        largest = rendered.renditions[0]
        made = ", ".join(dict.fromkeys(rendition.format.name for rendition in rendered.renditions))
        outcome = f"{len(rendered.renditions)} renditions ({made}), largest {largest.width}x{largest.height}"
    except PhotoError as error:
        outcome = f"refused: {error.code}"
    return {"peak_mb": peak_kib() / 1024, "outcome": outcome}


def measure(path: Path, presets: str, formats: str) -> dict[str, object]:
    """Run the child on `path` and return what it printed."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.renditions_rss", str(path), presets, formats],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    report: dict[str, object] = json.loads(result.stdout)
    return report


def run(section: Section) -> None:
    """A target row per file and set of renditions; the table with today's thumbnail beside."""
    from bench import corpus

    corpus.ensure(names=[name for name, _, _ in rss.CASES])
    rows = []
    for name, title, limit in rss.CASES:
        path = corpus.CORPUS_DIR / name
        today = float(rss.measure(str(path))["peak_mb"])  # type: ignore[arg-type]
        rows.append([title, "today: make_thumbnail 320 px", f"{today:.0f}", ""])
        for presets, formats in SETS:
            report = measure(path, presets, formats)
            peak = float(report["peak_mb"])  # type: ignore[arg-type]
            rows.append([title, f"{presets} × base + {formats}", f"{peak:.0f}", str(report["outcome"])])
            section.targets.append(
                Target(
                    f"worker peak RSS, renditions {presets} × {formats}, {title}",
                    f"{peak:.0f} MB",
                    f"≤ {limit} MB",
                    peak <= limit,
                    f"today's thumbnail in the same run {today:.0f} MB; {report['outcome']}",
                )
            )
    section.body += [
        "### Peak RSS",
        "",
        "Each row is a fresh child process that imports what the worker imports, then renders one "
        "file once at the default settings (MAX_DECODE_MB 256); the figure is its whole peak RSS "
        "(VmHWM). The base format is JPEG, PNG for the RGBA source. The targets are the memory suite's rows for today's thumbnail.",
        "",
    ]
    section.table(["source", "renditions", "peak RSS MB", "outcome"], rows)


if __name__ == "__main__":
    print(json.dumps(child(*sys.argv[1:4])))
