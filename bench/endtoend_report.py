"""The end-to-end suite's section of bench/RESULTS.md: a target row per worker setting, a
table of the times, the figure, and what the figures depend on."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING

from bench.endtoend_times import Times, percentile
from bench.report import Section, Target

if TYPE_CHECKING:
    from bench.endtoend_samples import Result, Sample


def section(results: list[Result], figure: Path, mix: str, *, batch: int, interval_s: float) -> Section:
    """Target rows (every photo done, none failed but those meant to), the table, the notes."""
    out = Section("End to end: photos queued in bulk, from queued to completed")
    rows = []
    for result in results:
        times = result.times
        assert times is not None
        out.targets.append(_target(result, times))
        rows.append(_row(result, times))
    out.table(
        [
            "worker",
            "photos",
            "wall s",
            "photos/s",
            "photos/s by quarter of the run",
            "queued → completed p50 / p99 / max s",
            "POST sent → completed p50 / p99 s",
            "claimed → completed p50 / p99 ms",
            "failed (meant to / other)",
            "left",
            "max ready on the queue",
            "POST of 1000, median ms",
            "load before / mean / max during",
        ],
        rows,
    )
    out.body.append(f"![queue depth and photos done over time, per worker setting]({figure.name})")
    out.body.append("")
    out.body += [
        f"The mix: {mix}. Served on 127.0.0.1 with no added latency; thumbnails in a folder. The "
        f"API (gunicorn, 1 process × 4 threads) takes them in POSTs of {batch} sent one after "
        "another while the worker (supervised, as the Procfile runs it) already consumes; the "
        f"worker is warmed with a few photos first. Sampled every {interval_s:g} s: the ready "
        "messages (RabbitMQ's count, without those prefetched by the worker), and the photos by "
        "status. Wall time: from the first POST sent to the last photo completed or failed. "
        "2 × 2: one process per core as docs/scaling.md says, a second thread each to overlap "
        "a photo's download and database round trips with another's decoding.",
        "",
        "queued → completed runs from photos.queued_at (written by the API once the broker "
        "confirmed the photo's batch) to photo_thumbnails.created_at (the statement that records "
        "the thumbnail and completes the photo; photos.updated_at moves with any later write). "
        "Every photo is queued within the first seconds, so this is mostly the wait behind the "
        "backlog: p50 near half the wall time, p99 near all of it. POST sent → completed is the "
        "client's view; claimed → completed is the worker's own time on a photo. 'early': photos "
        "completed before their queued_at was written, their time negative.",
        "",
        "The machine is shared with other engineers running tests: photos/s and above all p99 "
        "move with their load, as the rates by quarter show. 'load before' is the 1-minute load average (which lags by about a "
        "minute) as the setting began "
        "(the worker idle: others' work, PostgreSQL's and RabbitMQ's); 'max during' includes this "
        "run's own worker, API, database and image server (2 cores).",
    ]
    return out


def _target(result: Result, times: Times) -> Target:
    """The row of the targets table: the rate and the percentiles, met when every photo ended
    and none failed but the sources meant to."""
    return Target(
        f"end to end, {result.count:,} photos of a mix queued by POST /photos/process, worker {result.label}",
        f"{times.rate:.1f} photos/s ({times.wall_s:.0f} s); queued → completed "
        f"p50 {percentile(times.queued_to_done, 50):.1f} s, p99 {percentile(times.queued_to_done, 99):.1f} s",
        "every photo completed or failed; none failed but the sources meant to",
        times.unfinished == 0 and not times.failed_other,
        f"load average {result.load_before:.1f} before, ≤ {max(s.load for s in result.samples):.1f} during",
    )


def _row(result: Result, times: Times) -> list[str]:
    """The table's row of one setting."""
    queued, asked, claimed = times.queued_to_done, times.asked_to_done, times.claimed_to_done
    loads = [sample.load for sample in result.samples]
    other = sum(times.failed_other.values())
    other_text = f"{other} ({', '.join(f'{code} {n}' for code, n in times.failed_other.most_common())})"
    early = f" ({times.early} early)" if times.early else ""
    return [
        result.label,
        f"{result.count:,}",
        f"{times.wall_s:.0f}",
        f"{times.rate:.1f}",
        " / ".join(f"{rate:.1f}" for rate in _quarters(result.samples, times.wall_s)),
        f"{percentile(queued, 50):.1f} / {percentile(queued, 99):.1f} / {max(queued, default=0):.1f}{early}",
        f"{percentile(asked, 50):.1f} / {percentile(asked, 99):.1f}",
        f"{percentile(claimed, 50) * 1000:.0f} / {percentile(claimed, 99) * 1000:.0f}",
        f"{times.failed_meant} / {other_text if other else 0}",
        str(times.unfinished),
        f"{max(sample.depth for sample in result.samples):,}",
        f"{statistics.median(result.posts_s) * 1000:.0f}",
        f"{result.load_before:.1f} / {statistics.mean(loads):.1f} / {max(loads):.1f}",
    ]


def _quarters(samples: list[Sample], wall_s: float) -> list[float]:
    """Photos done per second in each quarter of the wall time, from the samples: a steady
    worker on a quiet machine gives four equal rates."""
    ends = [wall_s * quarter / 4 for quarter in range(5)]
    done = [max((s.done for s in samples if s.t <= end), default=0) for end in ends]
    done[-1] = max(s.done for s in samples)  # the last sample may fall just after the wall time
    return [(done[i + 1] - done[i]) / (wall_s / 4) for i in range(4)]
