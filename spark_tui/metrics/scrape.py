"""Scrape an engine's Prometheus /metrics (the names come from its adapter; parsed with prometheus_client's
parser) and turn counters into rates over a sliding window, counter resets (a restarted server) included."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from functools import cached_property
from itertools import pairwise


@dataclass(frozen=True)
class MetricsSample:
    t: float
    # None: the engine does not report it (trtllm-serve before its token counters): never shown as a number
    generation_tokens: float | None
    prompt_tokens: float | None
    requests_running: float | None
    requests_waiting: float | None
    kv_cache_usage: float | None  # 0–1
    ttft_sum: float
    ttft_count: float
    itl_sum: float
    itl_count: float

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MetricNames:
    """The Prometheus names an engine's /metrics uses (its adapter says which; counters without `_total`). Where
    a tuple lists several, the first present is read (an engine renamed it)."""

    generation_tokens: str
    prompt_tokens: str
    requests_running: str
    requests_waiting: str
    kv_cache_usage: tuple[str, ...]  # a 0–1 gauge
    ttft_seconds: tuple[str, ...]  # histograms: their _sum and _count are read
    itl_seconds: tuple[str, ...]

    @cached_property
    def _counters(self) -> dict[str, str]:
        return {self.generation_tokens: "generation_tokens", self.prompt_tokens: "prompt_tokens",
                self.requests_running: "requests_running", self.requests_waiting: "requests_waiting"}

    @cached_property
    def _samples(self) -> frozenset[str]:
        plain = [*self._counters, *self.kv_cache_usage]
        histograms = [*self.ttft_seconds, *self.itl_seconds]
        return frozenset([*plain, *(f"{n}_total" for n in plain),
                          *(f"{h}_{part}" for h in histograms for part in ("sum", "count"))])

    @cached_property
    def _families(self) -> frozenset[str]:
        return frozenset([*self._counters, *self.kv_cache_usage, *self.ttft_seconds, *self.itl_seconds])


def relevant_lines(text: str, names: MetricNames) -> str:
    """Only the lines of the families read here (and of histograms only _sum and _count). A vLLM /metrics page is
    ~400 lines, mostly histogram buckets and process metrics; the parser then reads a few dozen (it is the
    monitor's largest CPU cost at one scrape a second)."""
    keep = []
    families, samples = names._families, names._samples
    for line in text.splitlines():
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and (parts[2] in families or parts[2] in samples):  # counters: name_total
                keep.append(line)
        elif line.split("{", 1)[0].split(" ", 1)[0] in samples:
            keep.append(line)
    return "\n".join(keep) + "\n"


def _first(values: dict[str, float], names: tuple[str, ...]) -> float | None:
    return next((values[n] for n in names if n in values), None)


def parse(text: str, names: MetricNames, t: float | None = None) -> MetricsSample:
    from prometheus_client.parser import text_string_to_metric_families  # only where metrics are read

    values: dict[str, float] = {}  # summed over engines/models (labels)
    for family in text_string_to_metric_families(relevant_lines(text, names)):
        for sample in family.samples:
            name = sample.name.removesuffix("_total")
            values[name] = values.get(name, 0.0) + sample.value
    counters = {key: values.get(name, 0.0) for name, key in names._counters.items()}

    def histogram(family: tuple[str, ...], part: str) -> float:
        return _first(values, tuple(f"{n}_{part}" for n in family)) or 0.0

    return MetricsSample(
        t=time.time() if t is None else t,
        generation_tokens=counters["generation_tokens"], prompt_tokens=counters["prompt_tokens"],
        requests_running=counters["requests_running"], requests_waiting=counters["requests_waiting"],
        kv_cache_usage=_first(values, names.kv_cache_usage),
        ttft_sum=histogram(names.ttft_seconds, "sum"), ttft_count=histogram(names.ttft_seconds, "count"),
        itl_sum=histogram(names.itl_seconds, "sum"), itl_count=histogram(names.itl_seconds, "count"),
    )


def scrape(url: str, names: MetricNames, timeout: float = 1.0) -> MetricsSample | None:
    from spark_tui.engines.http import get_text

    answer = get_text(url.rstrip("/") + "/metrics", timeout=timeout)
    if answer is None or answer[0] != 200:
        return None
    return parse(answer[1], names)


def _increase(values: list[float]) -> float:
    """How much a counter grew across samples; a drop means the server restarted and counts from zero."""
    total = 0.0
    for before, after in pairwise(values):
        total += after - before if after >= before else after
    return total


def rates(history: list[MetricsSample], window_s: float = 60.0) -> tuple[float, float]:
    """(generation tokens/s, prompt tokens/s) over the last `window_s` seconds of samples (a counter the engine
    does not report counts as 0: see known_rates)."""
    if len(history) < 2:
        return 0.0, 0.0
    newest = history[-1].t
    recent = [s for s in history if newest - s.t <= window_s]
    if len(recent) < 2:
        recent = history[-2:]
    elapsed = recent[-1].t - recent[0].t
    if elapsed <= 0:
        return 0.0, 0.0
    return (_increase([s.generation_tokens or 0.0 for s in recent]) / elapsed,
            _increase([s.prompt_tokens or 0.0 for s in recent]) / elapsed)


def known_rates(history: list[MetricsSample], window_s: float = 60.0) -> tuple[float | None, float | None]:
    """rates(), with None for a counter the newest sample lacks (the engine does not report it)."""
    generation, prompt = rates(history, window_s)
    newest = history[-1] if history else None
    return (None if newest is None or newest.generation_tokens is None else generation,
            None if newest is None or newest.prompt_tokens is None else prompt)
