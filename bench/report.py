"""What a suite returns, and how the run turns it into bench/RESULTS.md."""

from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True)
class Target:
    """One row of the targets table: a measured figure, its target, and whether it is met."""

    measure: str
    value: str
    target: str
    met: bool
    detail: str = ""


@dataclass
class Section:
    """What one suite measured: its target rows, plus free Markdown (tables, notes) to explain them."""

    title: str
    targets: list[Target] = field(default_factory=list)
    body: list[str] = field(default_factory=list)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        """Append a Markdown table to the body."""
        self.body.append("| " + " | ".join(header) + " |")
        self.body.append("|" + " --- |" * len(header))
        self.body.extend("| " + " | ".join(row) + " |" for row in rows)
        self.body.append("")


def median_ms(seconds: list[float]) -> float:
    """The median of `seconds`, in milliseconds."""
    return statistics.median(seconds) * 1000


def machine() -> list[tuple[str, str]]:
    """What the figures depend on: processor, cores, memory, Python and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as meminfo:
            kib = int(next(line.split()[1] for line in meminfo if line.startswith("MemTotal")))
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    rows = [
        ("CPU", cpu),
        ("cores", str(os.cpu_count())),
        ("memory", memory),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
    ]
    for package in ("pillow", "pillow_heif", "pyvips", "pyvips-binary"):
        try:
            rows.append((package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            rows.append((package, "not installed"))
    return rows


@dataclass
class Run:
    """One suite's latest run: the command, the day and the machine it ran on, and its section."""

    command: str
    date: str
    machine: list[tuple[str, str]]
    section: Section


def load(path: Path) -> dict[str, Run]:
    """The latest run of each suite, as `save` kept them ({} when there is no file yet)."""
    if not path.exists():
        return {}
    runs = {}
    for name, raw in json.loads(path.read_text()).items():
        targets = [Target(**row) for row in raw["section"]["targets"]]
        section = Section(raw["section"]["title"], targets, raw["section"]["body"])
        runs[name] = Run(raw["command"], raw["date"], [tuple(row) for row in raw["machine"]], section)
    return runs


def save(path: Path, runs: dict[str, Run]) -> None:
    """Keep each suite's latest run, so that running one suite keeps the others' figures."""
    path.write_text(json.dumps({name: asdict(run) for name, run in runs.items()}, indent=1) + "\n")


def render(runs: dict[str, Run]) -> str:
    """RESULTS.md: the machine, every suite's targets in one table, then each suite's detail."""
    latest = max(runs.values(), key=lambda run: run.date)
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m bench`, which keeps each suite's latest run (bench/RESULTS.json):",
        "`--only NAME` measures one suite again and leaves the others' figures as they were. Every",
        "ratio compares figures of one suite's same run; each suite says which run, and where its",
        "machine differed from this one (the latest run's).",
        "",
        "| machine | |",
        "| --- | --- |",
        *(f"| {name} | {value} |" for name, value in latest.machine),
        "",
        "## Targets",
        "",
        "| measure | measured | target | met | |",
        "| --- | --- | --- | --- | --- |",
    ]
    for run in runs.values():
        for row in run.section.targets:
            met = "yes" if row.met else "**no**"
            lines.append(f"| {row.measure} | {row.value} | {row.target} | {met} | {row.detail} |")
    lines.append("")
    for run in runs.values():
        differs = [f"{name} {value}" for name, value in run.machine if (name, value) not in latest.machine]
        where = f"; there: {', '.join(differs)}" if differs else ""
        lines += [f"## {run.section.title}", "", f"Measured by `{run.command}` on {run.date}{where}.", ""]
        lines += [*run.section.body, ""]
    return "\n".join(lines).rstrip() + "\n"
