"""Run the benchmark suites and write bench/RESULTS.md.

A suite is a function taking `quick` and returning a `report.Section`: its target rows (each
with the measured figure and whether the target is met) and free Markdown explaining them.
To add one (worker end to end, API), write the function in its own module and list it in
SUITES; `--only NAME` runs a subset: the other suites' latest figures are kept (bench/RESULTS.json)
and RESULTS.md shows them all, each with the run it came from.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import report
from bench.report import Section

RESULTS = Path(__file__).with_name("RESULTS.md")


def _thumbnail(quick: bool) -> Section:
    """The thumbnail suite (imported lazily: it needs pyvips)."""
    from bench import thumbnails

    return thumbnails.run(quick=quick)


def _renditions(quick: bool) -> Section:
    """The renditions suite (issue 19: sizes x formats against today's thumbnail; scikit-image)."""
    from bench import renditions

    return renditions.run(quick=quick)


def _memory(quick: bool) -> Section:
    """The peak-RSS suite (Pillow only: runs where the libvips baselines are not installed)."""
    from bench import rss

    return rss.run(quick=quick)


def _system(quick: bool) -> Section:
    """The system suite (real worker and API processes on a database and vhost of its own)."""
    from bench import system

    return system.run(quick=quick)


def _storage(quick: bool) -> Section:
    """The storage suite (the worker with its thumbnails in an S3 bucket against a folder)."""
    from bench import storage

    return storage.run(quick=quick)


def _scale(quick: bool) -> Section:
    """The scale suite (enqueue rates; reads at 10k to 1M rows; matplotlib for its figure)."""
    from bench import scale

    return scale.run(quick=quick)


def _remote(quick: bool) -> Section:
    """The remote suite (the worker's photos/s against source latency x threads; matplotlib)."""
    from bench import remote

    return remote.run(quick=quick)


def _endtoend(quick: bool) -> Section:
    """The end-to-end suite (10,000 photos through the API and the worker; matplotlib)."""
    from bench import endtoend

    return endtoend.run(quick=quick)


def _ingest(quick: bool) -> Section:
    """The ingest suite (`python -m service import` of a million URLs)."""
    from bench import ingest

    return ingest.run(quick=quick)


def _webhooks(quick: bool) -> Section:
    """The webhooks suite (the worker's photos/s with a receiver that never answers, and without)."""
    from bench import webhooks

    return webhooks.run(quick=quick)


def _reuse(quick: bool) -> Section:
    """The reuse suite (issue 20: duplicates copied, originals read by re-renders)."""
    from bench import reuse

    return reuse.run(quick=quick)


def _lanes(quick: bool) -> Section:
    """The lanes suite (issue 20: new photos' p99 beside a re-render of 100,000)."""
    from bench import lanes

    return lanes.run(quick=quick)


def _chaos(quick: bool) -> Section:
    """The chaos soak (issue 21: faults of every kind under 10,000 photos; needs root)."""
    from bench import chaos

    return chaos.run(quick=quick)


def _api(quick: bool) -> Section:
    """The API suite (wrk against gunicorn with 100,000 pending photos; needs wrk installed)."""
    from bench import api_load

    return api_load.run(quick=quick)


SUITES: dict[str, Callable[[bool], Section]] = {
    "thumbnail": _thumbnail,
    "memory": _memory,
    "renditions": _renditions,
    "system": _system,
    "scale": _scale,
    "storage": _storage,
    "remote": _remote,
    "endtoend": _endtoend,
    "ingest": _ingest,
    "webhooks": _webhooks,
    "reuse": _reuse,
    "lanes": _lanes,
    "chaos": _chaos,
    "api": _api,
}


def _each_in_its_own_process(names: list[str], args: argparse.Namespace) -> int:
    """Run each suite in a child `python -m bench --only NAME`, one after the other: a suite's
    imports must not outlive it (the actors package builds its broker from the environment of
    the first suite that imports it, whose vhost is dropped at that suite's end). Each child
    adds its figures to the results file, as `--only` does."""
    code = 0
    for name in names:
        child = [sys.executable, "-m", "bench", "--only", name, "--out", str(args.out)]
        if args.quick:
            child.append("--quick")
        if args.strict:
            child.append("--strict")
        code = max(code, subprocess.run(child, check=False).returncode)
    return code


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the chosen suites, write the results; with --strict, 1 on a miss."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(SUITES), help="run this suite (repeatable)")
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds: a smoke test, not figures to keep"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"where to write (default {RESULTS.name})")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    names = args.only or list(SUITES)
    if len(names) > 1:
        return _each_in_its_own_process(names, args)
    runs_file = args.out.with_suffix(".json")
    runs = report.load(runs_file)
    command = (
        "python -m bench"
        + "".join(f" --only {name}" for name in args.only or [])
        + (" --quick" if args.quick else "")
    )
    sections = []
    for name in names:
        started = time.perf_counter()
        print(f"== suite {name}", flush=True)
        sections.append(SUITES[name](args.quick))
        runs[name] = report.Run(command, datetime.date.today().isoformat(), report.machine(), sections[-1])
        print(f"== suite {name} took {time.perf_counter() - started:.0f} s", flush=True)
    ordered = {name: runs[name] for name in SUITES if name in runs}
    report.save(runs_file, ordered)
    args.out.write_text(report.render(ordered))
    missed = [row.measure for section in sections for row in section.targets if not row.met]
    print(f"wrote {args.out}; targets missed: {', '.join(missed) or 'none'}")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
