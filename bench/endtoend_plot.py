"""The end-to-end suite's figure: the queue depth and the photos done over time, per setting.

matplotlib is a benchmark-only dependency (requirements-bench.txt), imported here alone and
drawn with the Agg backend: no display needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.endtoend_samples import Result


def plot(results: list[Result], path: Path) -> None:
    """Two panels sharing the time axis: ready messages on the queue, and photos completed or
    failed; one line per worker setting."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (depth_axes, done_axes) = pyplot.subplots(2, 1, sharex=True, figsize=(7, 5.5), dpi=100)
    for result in results:
        times = [sample.t for sample in result.samples]
        label = f"worker {result.label}"
        (line,) = depth_axes.plot(times, [sample.depth for sample in result.samples], label=label)
        done_axes.plot(times, [sample.done for sample in result.samples], color=line.get_color(), label=label)
    count = results[0].count
    depth_axes.set_ylabel("messages ready on the queue")
    depth_axes.set_title(f"{count:,} photos queued by POST /photos/process, until all are done")
    done_axes.set_ylabel("photos completed or failed")
    done_axes.set_xlabel("seconds since the first POST")
    for axes in (depth_axes, done_axes):
        axes.set_ylim(bottom=0)
        axes.set_xlim(left=0)
        axes.grid(True, alpha=0.3)
        axes.legend(loc="center right")
    figure.tight_layout()
    figure.savefig(path, format="png", metadata={"Software": None})
    pyplot.close(figure)
