"""What the end-to-end suite records: the system sampled over time, and each setting's run."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.endtoend_times import Times


@dataclass
class Sample:
    """The system at one moment, `t` seconds after the first POST was sent."""

    t: float
    depth: int  # ready messages on the queue
    counts: dict[str, int]  # photos by status
    load: float  # 1-minute load average of the machine (this run's processes included)

    @property
    def done(self) -> int:
        """Photos completed or failed."""
        return self.counts.get("completed", 0) + self.counts.get("failed", 0)


@dataclass
class Result:
    """One setting's run: what was sampled, how the POSTs went, and each photo's times."""

    processes: int
    threads: int
    count: int
    load_before: float
    samples: list[Sample] = field(default_factory=list)
    posts_s: list[float] = field(default_factory=list)
    times: Times | None = None

    @property
    def label(self) -> str:
        """The worker setting, as the README writes it."""
        return f"{self.processes} × {self.threads}"
