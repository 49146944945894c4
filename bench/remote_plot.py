"""The remote suite's figure: photos/s against source latency, one line per thread count.

matplotlib is a benchmark-only dependency (requirements-bench.txt), imported here alone and
drawn with the Agg backend: no display needed.
"""

from __future__ import annotations

from pathlib import Path


def plot(
    rates: dict[tuple[int, int], float],
    threads: tuple[int, ...],
    latencies_ms: tuple[int, ...],
    path: Path,
    *,
    processes: int,
) -> None:
    """Draw the grid to `path` (PNG), the CPU-bound rate (best at 0 ms) as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4.5), dpi=100)
    for count in threads:
        axes.plot(
            latencies_ms, [rates[count, ms] for ms in latencies_ms], marker="o", label=f"{count} threads"
        )
    cpu_bound = max(rates[count, 0] for count in threads)
    axes.axhline(cpu_bound, color="grey", linestyle="--", linewidth=1, label="CPU-bound (best at 0 ms)")
    axes.set_xlabel("source latency to first byte (ms)")
    axes.set_ylabel("photos/s (12 MP JPEG)")
    axes.set_title(f"Worker throughput, {processes} processes, against source latency")
    axes.set_xticks(list(latencies_ms))
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower left")
    figure.tight_layout()
    figure.savefig(path, format="png", metadata={"Software": None})
    pyplot.close(figure)
