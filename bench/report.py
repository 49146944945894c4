"""What a suite returns, and how the run turns it into bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass, field
from importlib import metadata


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


def render(sections: list[Section], *, machine_rows: list[tuple[str, str]], command: str) -> str:
    """RESULTS.md: the machine, every suite's targets in one table, then each suite's detail."""
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{command}`; every ratio compares figures of this same run.",
        "",
        "| machine | |",
        "| --- | --- |",
        *(f"| {name} | {value} |" for name, value in machine_rows),
        "",
        "## Targets",
        "",
        "| measure | measured | target | met | |",
        "| --- | --- | --- | --- | --- |",
    ]
    for section in sections:
        for row in section.targets:
            met = "yes" if row.met else "**no**"
            lines.append(f"| {row.measure} | {row.value} | {row.target} | {met} | {row.detail} |")
    lines.append("")
    for section in sections:
        lines += [f"## {section.title}", "", *section.body, ""]
    return "\n".join(lines).rstrip() + "\n"
