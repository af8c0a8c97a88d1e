"""What the Servers screen shows, as plain data the app keeps (and tests can set): one view per server."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from spark_tui.engines.supervisor import ServerStatus
from spark_tui.metrics.gpu import GpuSample
from spark_tui.metrics.scrape import MetricsSample, rates

HISTORY_POINTS = 300  # five minutes at one sample a second


@dataclass
class ServerView:
    status: ServerStatus
    samples: deque[MetricsSample] = field(default_factory=lambda: deque(maxlen=HISTORY_POINTS))
    generation_rate: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY_POINTS))
    prompt_rate: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY_POINTS))

    def add(self, sample: MetricsSample | None) -> None:
        """A new /metrics sample: rates over the last 10 s go on the sparklines."""
        if sample is None:
            return
        self.samples.append(sample)
        generation, prompt = rates(list(self.samples), window_s=10.0)
        self.generation_rate.append(generation)
        self.prompt_rate.append(prompt)


@dataclass
class ServersSnapshot:
    statuses: list[ServerStatus]
    metrics: dict[str, MetricsSample | None]
    gpus: list[GpuSample]
