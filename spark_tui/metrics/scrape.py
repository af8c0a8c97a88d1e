"""Scrape vLLM's Prometheus /metrics (parsed with prometheus_client's parser) and turn counters into rates
over a sliding window, counter resets (a restarted server) included."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from itertools import pairwise


@dataclass(frozen=True)
class MetricsSample:
    t: float
    generation_tokens: float
    prompt_tokens: float
    requests_running: float
    requests_waiting: float
    kv_cache_usage: float | None  # 0–1
    ttft_sum: float
    ttft_count: float
    itl_sum: float
    itl_count: float

    def to_json(self) -> dict:
        return asdict(self)


_NAMES = {
    "vllm:generation_tokens": "generation_tokens",
    "vllm:prompt_tokens": "prompt_tokens",
    "vllm:num_requests_running": "requests_running",
    "vllm:num_requests_waiting": "requests_waiting",
    "vllm:kv_cache_usage_perc": "kv_cache_usage",
    "vllm:gpu_cache_usage_perc": "gpu_cache_usage",  # the pre-0.9 name, used when the new one is absent
}


_HISTOGRAMS = ("vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds",
               "vllm:time_per_output_token_seconds")
_FAMILIES = frozenset([*_NAMES, *_HISTOGRAMS])
_SAMPLES = frozenset([*(f"{n}_total" for n in _NAMES), *_NAMES, *(f"{h}_{part}" for h in _HISTOGRAMS
                                                                   for part in ("sum", "count"))])


def relevant_lines(text: str) -> str:
    """Only the lines of the families read here (and of histograms only _sum and _count). A vLLM /metrics page is
    ~400 lines, mostly histogram buckets and process metrics; the parser then reads a few dozen (it is the
    monitor's largest CPU cost at one scrape a second)."""
    keep = []
    for line in text.splitlines():
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and (parts[2] in _FAMILIES or parts[2] in _SAMPLES):  # counters: name_total
                keep.append(line)
        elif line.split("{", 1)[0].split(" ", 1)[0] in _SAMPLES:
            keep.append(line)
    return "\n".join(keep) + "\n"


def parse(text: str, t: float | None = None) -> MetricsSample:
    from prometheus_client.parser import text_string_to_metric_families  # only where metrics are read

    values: dict[str, float] = {}
    for family in text_string_to_metric_families(relevant_lines(text)):
        for sample in family.samples:
            name = sample.name
            if name.endswith("_total"):
                name = name[: -len("_total")]
            key = _NAMES.get(name)
            if key:
                values[key] = values.get(key, 0.0) + sample.value  # summed over engines/models
            elif name in ("vllm:time_to_first_token_seconds_sum", "vllm:time_to_first_token_seconds_count",
                          "vllm:inter_token_latency_seconds_sum", "vllm:inter_token_latency_seconds_count",
                          "vllm:time_per_output_token_seconds_sum", "vllm:time_per_output_token_seconds_count"):
                short = ("ttft_" if "first_token" in name else "itl_") + name.rsplit("_", 1)[-1]
                if "time_per_output" in name and short in values:
                    continue  # the deprecated ITL name only when the new one is missing
                values[short] = values.get(short, 0.0) + sample.value
    kv = values.get("kv_cache_usage", values.get("gpu_cache_usage"))
    return MetricsSample(
        t=time.time() if t is None else t,
        generation_tokens=values.get("generation_tokens", 0.0),
        prompt_tokens=values.get("prompt_tokens", 0.0),
        requests_running=values.get("requests_running", 0.0),
        requests_waiting=values.get("requests_waiting", 0.0),
        kv_cache_usage=kv,
        ttft_sum=values.get("ttft_sum", 0.0), ttft_count=values.get("ttft_count", 0.0),
        itl_sum=values.get("itl_sum", 0.0), itl_count=values.get("itl_count", 0.0),
    )


def scrape(url: str, timeout: float = 1.0) -> MetricsSample | None:
    from spark_tui.engines.http import get_text

    answer = get_text(url.rstrip("/") + "/metrics", timeout=timeout)
    if answer is None or answer[0] != 200:
        return None
    return parse(answer[1])


def _increase(values: list[float]) -> float:
    """How much a counter grew across samples; a drop means the server restarted and counts from zero."""
    total = 0.0
    for before, after in pairwise(values):
        total += after - before if after >= before else after
    return total


def rates(history: list[MetricsSample], window_s: float = 60.0) -> tuple[float, float]:
    """(generation tokens/s, prompt tokens/s) over the last `window_s` seconds of samples."""
    if len(history) < 2:
        return 0.0, 0.0
    newest = history[-1].t
    recent = [s for s in history if newest - s.t <= window_s]
    if len(recent) < 2:
        recent = history[-2:]
    elapsed = recent[-1].t - recent[0].t
    if elapsed <= 0:
        return 0.0, 0.0
    return (_increase([s.generation_tokens for s in recent]) / elapsed,
            _increase([s.prompt_tokens for s in recent]) / elapsed)
