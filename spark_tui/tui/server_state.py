"""What the Servers screen shows, as plain data the app keeps (and tests can set): one view per server."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from spark_tui.engines.status import ServerStatus
from spark_tui.metrics.gpu import GpuSample
from spark_tui.metrics.scrape import MetricsSample, known_rates

HISTORY_POINTS = 300  # five minutes at one sample a second


@dataclass
class ServerView:
    status: ServerStatus
    samples: deque[MetricsSample] = field(default_factory=lambda: deque(maxlen=HISTORY_POINTS))
    generation_rate: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY_POINTS))
    prompt_rate: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY_POINTS))

    def add(self, history: list[MetricsSample]) -> None:
        """The server's shared /metrics history (metrics/history.py, the one `ps` reads; newest last): a new
        newest sample is shown, and the rates over its last 10 s go on the sparklines."""
        if not history or (self.samples and self.samples[-1].t >= history[-1].t):
            return
        self.samples.append(history[-1])
        generation, prompt = known_rates(history, window_s=10.0)
        if generation is not None:  # an engine without token counters shows "—", never 0
            self.generation_rate.append(generation)
        if prompt is not None:
            self.prompt_rate.append(prompt)


@dataclass
class ServersSnapshot:
    statuses: list[ServerStatus]
    metrics: dict[str, list[MetricsSample]]  # each server's shared history, newest last (empty: no answer)
    gpus: list[GpuSample]
