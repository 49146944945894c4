"""The memory suite: peak resident memory of thumbnailing one file, each in a fresh child process.

Run as `python -m bench.rss [FILE]`: the child imports what the worker imports, reads FILE,
thumbnails it once and prints its own peak RSS and the outcome (the error code when the file
is refused), as JSON. Without FILE it only imports, which gives the baseline the thumbnail's
figure includes; `--bare` imports nothing. Pillow alone: no libvips needed.

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

from PIL import Image

from bench.report import Section, Target

# What `dramatiq actors` loads in a worker process: the actors package imports the broker, the
# fetcher, the database models and pipeline.thumbnail (no connection is opened at import).
# A module that cannot be imported is skipped and listed in the output.
WORKER_IMPORTS = ("actors", "dramatiq.worker")
ROOT = Path(__file__).resolve().parent.parent
# Photo-like files of the corpus: (file, title, target MB).
CASES = (
    ("jpeg-50mp-0.jpg", "50 MP JPEG", 150),
    ("png-12mp-0-rgba.png", "12 MP RGBA PNG", 250),
)
# Issue 9: whatever the input, the worker stays under this.
BOMB_LIMIT_MB = 300
AT_THE_BUDGET = "tiff-at-the-budget.tif"  # the costliest input MAX_DECODE_MB (256) accepts


def child(argv: list[str]) -> dict[str, object]:
    """In the child: import, optionally thumbnail one file, and report peak RSS and the outcome."""
    missing = []
    for name in WORKER_IMPORTS if argv[:1] != ["--bare"] else ():
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    files = [arg for arg in argv if arg != "--bare"]
    outcome = "imports only"
    if files:
        from pipeline.errors import PhotoError
        from pipeline.thumbnail import make_thumbnail

        try:
            thumbnail = make_thumbnail(Path(files[0]).read_bytes())
            outcome = f"{thumbnail.width}x{thumbnail.height} {thumbnail.format}"
        except PhotoError as error:
            outcome = f"refused: {error.code}"
    return {"peak_mb": _peak_kib() / 1024, "missing": missing, "outcome": outcome}


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


def run(*, quick: bool = False) -> Section:
    """Measure every case once (memory is not noisy: `quick` changes nothing); the section."""
    from bench import corpus
    from harness import bombs

    section = Section("Peak RSS")
    corpus.ensure(names=[name for name, _, _ in CASES])
    files = [(corpus.CORPUS_DIR / name, title, limit) for name, title, limit in CASES]
    for name, bomb in bombs.BOMBS.items():
        files.append((bombs.write(name, corpus.CORPUS_DIR), bomb.title, BOMB_LIMIT_MB))
    at_the_budget = corpus.CORPUS_DIR / AT_THE_BUDGET  # made again: it follows the estimate
    at_the_budget.write_bytes(bombs.at_the_budget(256)[0])
    with Image.open(at_the_budget) as image:
        title = f"{image.width * image.height / 1e6:.0f} MP RGB TIFF, the costliest within MAX_DECODE_MB 256"
    files.append((at_the_budget, title, BOMB_LIMIT_MB))
    section_rows(section, files)
    return section


def section_rows(section: Section, files: list[tuple[Path, str, int]]) -> None:
    """Add a target row per file (whole peak RSS of its child) and the table with the baselines."""
    bare = measure("--bare")
    imports = measure()
    rows = [
        ["bare interpreter", f"{bare['peak_mb']:.0f}", ""],
        ["interpreter + worker imports", f"{imports['peak_mb']:.0f}", ""],
    ]
    for path, title, limit in files:
        report = measure(str(path))
        peak = float(report["peak_mb"])  # type: ignore[arg-type]
        size = path.stat().st_size
        rows.append(
            [
                f"... + thumbnail of a {title} ({size / 1e6:.1f} MB file)"
                if size >= 1e6
                else f"... + thumbnail of a {title} ({size / 1e3:.0f} KB file)",
                f"{peak:.0f}",
                str(report["outcome"]),
            ]
        )
        section.targets.append(
            Target(
                f"worker peak RSS, {title}",
                f"{peak:.0f} MB",
                f"≤ {limit} MB",
                peak <= limit,
                f"imports alone {imports['peak_mb']:.0f} MB; {report['outcome']}",
            )
        )
    section.body.append(
        "Each row is a fresh child process that imports what the worker imports, then thumbnails one "
        "file; the figure is its whole peak RSS. The decode bombs (harness/bombs.py) are small files "
        "announcing up to 100 MP, within the default pixel cap; before issue 9 the first three cost "
        "+772 MB (the TIFF was turned at full size), +489 MB (the palette converted to RGB at full "
        "size) and +202 MB. Refused means refused from the header, before decoding, as needing more "
        "than MAX_DECODE_MB. These children's figures include loading the decoders and encoders on their "
        "one call; tests/e2e/test_decode_bombs.py measures a real worker process on the first three "
        "bombs and the costliest TIFF: 57 MB after its first photo, at most 300 MB after them."
    )
    section.body.append("")
    section.table(["child process", "peak RSS MB", "outcome"], rows)
    if imports["missing"]:
        section.body.append(f"Not installed, so not imported: {', '.join(map(str, imports['missing']))}.")  # type: ignore[call-overload]
        section.body.append("")


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1:])))
