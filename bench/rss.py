"""Peak resident memory of thumbnailing one file, each in a fresh child process.

Run as `python -m bench.rss [FILE]`: the child imports what the worker imports, reads FILE,
thumbnails it once and prints its own peak RSS, as JSON. Without FILE it only imports, which
gives the baseline the thumbnail's figure includes; `--bare` imports nothing.

The peak is VmHWM from /proc/self/status, the high-water mark of the child's own address space.
getrusage's ru_maxrss would be wrong here: Linux carries it across fork and exec, so every child
would report the benchmark process's own peak (856 MB on the first run).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

from bench.report import Section, Target

# What `dramatiq actors` loads in a worker process: the actors package imports the broker, the
# fetcher, the database models and pipeline.thumbnail (no connection is opened at import).
# A module that cannot be imported is skipped and listed in the output.
WORKER_IMPORTS = ("actors", "dramatiq.worker")
ROOT = Path(__file__).resolve().parent.parent
CASES = (
    ("jpeg-50mp-0.jpg", "50 MP JPEG", 150),
    ("png-12mp-0-rgba.png", "12 MP RGBA PNG", 250),
)


def child(argv: list[str]) -> dict[str, object]:
    """In the child: import, optionally thumbnail one file, and report peak RSS."""
    missing = []
    for name in WORKER_IMPORTS if argv[:1] != ["--bare"] else ():
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    files = [arg for arg in argv if arg != "--bare"]
    if files:
        from pipeline.thumbnail import make_thumbnail

        make_thumbnail(Path(files[0]).read_bytes())
    return {"peak_mb": _peak_kib() / 1024, "missing": missing}


def _peak_kib() -> int:
    """This process's peak resident set size in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(*args: str) -> dict[str, object]:
    """Run the child with `args` and return what it printed."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.rss", *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    report: dict[str, object] = json.loads(result.stdout)
    return report


def section_rows(section: Section) -> None:
    """Add the peak-RSS target rows and the baselines they include to `section`."""
    from bench.corpus import CORPUS_DIR

    bare = measure("--bare")
    imports = measure()
    rows = [
        ["bare interpreter", f"{bare['peak_mb']:.0f}"],
        ["interpreter + worker imports", f"{imports['peak_mb']:.0f}"],
    ]
    for name, title, limit in CASES:
        peak = float(measure(str(CORPUS_DIR / name))["peak_mb"])  # type: ignore[arg-type]
        rows.append([f"... + thumbnail of a {title}", f"{peak:.0f}"])
        section.targets.append(
            Target(
                f"worker peak RSS, {title}",
                f"{peak:.0f} MB",
                f"≤ {limit} MB",
                peak <= limit,
                f"imports alone {imports['peak_mb']:.0f} MB",
            )
        )
    section.body.append(
        "### Peak RSS\n\nEach row is a fresh child process; the figure is its whole peak RSS."
    )
    section.body.append("")
    section.table(["child process", "peak RSS MB"], rows)
    if imports["missing"]:
        section.body.append(f"Not installed, so not imported: {', '.join(map(str, imports['missing']))}.")  # type: ignore[call-overload]
        section.body.append("")


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1:])))
