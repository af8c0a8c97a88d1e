"""A load generator for an OpenAI-compatible server: N streaming requests, C at a time; time to first token,
inter-token latency, per-stream and aggregate tokens/s."""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise

PROMPT_WORD = "hello "


@dataclass(frozen=True)
class RequestTiming:
    ttft_s: float
    itls_s: list[float]
    tokens: int
    total_s: float
    error: str | None = None


@dataclass(frozen=True)
class BenchResult:
    requests: int
    concurrency: int
    failed: int
    ttft_ms: dict[str, float]
    itl_ms: dict[str, float]
    output_tokens_per_s: float
    per_stream_tokens_per_s: float
    bound_tokens_per_s: float | None
    percent_of_bound: float | None
    wall_s: float

    def to_json(self) -> dict:
        return {
            "requests": self.requests, "concurrency": self.concurrency, "failed": self.failed,
            "ttft_ms": self.ttft_ms, "itl_ms": self.itl_ms,
            "output_tokens_per_s": round(self.output_tokens_per_s, 2),
            "per_stream_tokens_per_s": round(self.per_stream_tokens_per_s, 2),
            "bound_tokens_per_s": self.bound_tokens_per_s,
            "percent_of_bound": None if self.percent_of_bound is None else round(self.percent_of_bound, 1),
            "wall_s": round(self.wall_s, 2),
        }


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"p50": round(statistics.median(ordered) * 1000, 2), "p90": pick(0.90), "p99": pick(0.99)}


def one_request(url: str, model: str, prompt_tokens: int, max_tokens: int, timeout: float,
                api_key: str | None = None) -> RequestTiming:
    import httpx

    from spark_tui.engines.http import client

    body = {"model": model, "prompt": PROMPT_WORD * prompt_tokens, "max_tokens": max_tokens, "stream": True,
            "temperature": 0, "ignore_eos": True}
    start = time.perf_counter()
    stamps: list[float] = []
    try:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        with client().stream("POST", url.rstrip("/") + "/v1/completions", json=body, timeout=timeout,
                             headers=headers) as response:
            if response.status_code != 200:
                return RequestTiming(0, [], 0, time.perf_counter() - start, f"HTTP {response.status_code}")
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("choices") and chunk["choices"][0].get("text"):
                    stamps.append(time.perf_counter())
    except (httpx.HTTPError, ValueError) as exc:
        return RequestTiming(0, [], len(stamps), time.perf_counter() - start, type(exc).__name__)
    if not stamps:
        return RequestTiming(0, [], 0, time.perf_counter() - start, "no tokens")
    itls = [b - a for a, b in pairwise(stamps)]
    return RequestTiming(stamps[0] - start, itls, len(stamps), stamps[-1] - start)


def run_bench(url: str, model: str, requests: int = 8, concurrency: int = 2, prompt_tokens: int = 64,
              max_tokens: int = 64, bound: float | None = None, timeout: float = 120.0,
              api_key: str | None = None, progress: Callable[[int, int], None] | None = None) -> BenchResult:
    """`progress(done, requests)` is called as each request ends (from the requests' threads)."""
    start = time.perf_counter()
    done = [0]
    lock = threading.Lock()

    def request(_: int) -> RequestTiming:
        timing = one_request(url, model, prompt_tokens, max_tokens, timeout, api_key)
        if progress is not None:
            with lock:
                done[0] += 1
                progress(done[0], requests)
        return timing

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        timings = list(pool.map(request, range(requests)))
    wall = time.perf_counter() - start
    good = [t for t in timings if t.error is None]
    itls = [i for t in good for i in t.itls_s]
    # One stream's decode speed: tokens after the first over the time they took.
    per_stream = [(t.tokens - 1) / sum(t.itls_s) for t in good if t.itls_s and sum(t.itls_s) > 0]
    per_stream_tps = statistics.mean(per_stream) if per_stream else 0.0
    return BenchResult(
        requests=requests, concurrency=concurrency, failed=len(timings) - len(good),
        ttft_ms=_percentiles([t.ttft_s for t in good]), itl_ms=_percentiles(itls),
        output_tokens_per_s=sum(t.tokens for t in good) / wall if wall > 0 else 0.0,
        per_stream_tokens_per_s=per_stream_tps, bound_tokens_per_s=bound,
        percent_of_bound=(per_stream_tps / bound * 100) if bound else None, wall_s=wall,
    )
