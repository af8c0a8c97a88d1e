"""TensorRT-LLM's adapter: its `trtllm-serve` command line (PyTorch backend), readiness, metrics and log lines.

Sources (NVIDIA/TensorRT-LLM unless said otherwise):
- tensorrt_llm/commands/serve.py: a click command, `trtllm-serve [serve] MODEL [options]` (NVIDIA's DGX Spark playbook
  nvidia/trt-llm runs both `trtllm-serve "$MODEL_HANDLE" …` and `trtllm-serve serve "$MODEL_HANDLE" …`); option names
  are exactly as declared (`--max_batch_size`, `--kv_cache_free_gpu_memory_fraction`: click does not swap `_` and
  `-`); `--host` defaults to localhost, `--port` to 8000; no API-key option.
- tensorrt_llm/serve/openai_server.py: GET /health is 200 once the LLM is up (503 "LLM is unavailable" when its
  executor died; while the model loads the HTTP server is not listening yet); /v1/models lists the served model;
  /metrics is JSON, a list of iteration-stat dicts drained from a queue (needs `enable_iter_perf_stats`, release
  notes 0.19.0); Prometheus text is at /prometheus/metrics, mounted only with `return_perf_metrics` (PR #5785, merged
  in August 2025). Its first families had no prefix and no token counters (request_success_total,
  time_to_first_token_seconds, …: PR #5785, vllm-project/aibrix#2004 on a 2026 release); tensorrt_llm/metrics/
  collector.py now names them trtllm_* with trtllm_prompt_tokens_total, trtllm_generation_tokens_total,
  trtllm_num_requests_running/waiting (numActiveRequests/numQueuedRequests) and trtllm_kv_cache_utilization
  (usedNumBlocks / maxNumBlocks).
- Start-up lines: a DGX Spark log of 1.1.0rc3 (`[TensorRT-LLM] TensorRT-LLM version: …`, `Use 63.32 GB for model
  weights.`, `[MemUsageChange] Allocated 5.95 GiB for max tokens in paged KV cache (86720).` twice: the first is the
  temporary cache of the memory profiling, the last the real pool), then uvicorn's `Application startup complete.`
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from spark_tui.engines.logs import phase_of
from spark_tui.errors import UsageError
from spark_tui.metrics.scrape import MetricNames, MetricsSample, relevant_lines

if TYPE_CHECKING:
    from spark_tui.advisor.types import LaunchPlan

USAGE = "The command must be: trtllm-serve [serve] MODEL [options]"

PHASES = (
    (re.compile(r"Application startup complete|Uvicorn running on"), "serving"),
    (re.compile(r"\[MemUsageChange\] Allocated [\d.]+ GiB for max tokens in paged KV cache \((\d+)\)"),
     "KV cache {0} tokens"),
    (re.compile(r"Memory used after loading model weights|Model init total"), "profiling memory"),
    (re.compile(r"Use ([\d.]+) GB for model weights"), "loading weights ({0} GB)"),
    (re.compile(r"Loading weights|Using LLM with PyTorch backend"), "loading weights"),
)


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"Cannot read that command: {exc}.") from None


def _option(words: list[str], name: str) -> str | None:
    """The value of `--name V` or `--name=V` (click's two spellings); the last one wins, as in click."""
    found = None
    for i, word in enumerate(words):
        if word == name and i + 1 < len(words):
            found = words[i + 1]
        elif word.startswith(name + "="):
            found = word.split("=", 1)[1]
    return found


class TrtllmAdapter:
    name = "trtllm"
    title = "trtllm-serve"
    api_key_env: str | None = None  # trtllm-serve has no API-key option (tensorrt_llm/commands/serve.py)
    # The Prometheus names at /prometheus/metrics: the trtllm_ families of tensorrt_llm/metrics/collector.py, and for
    # the latencies also the unprefixed names of the first collector (PR #5785).
    metric_names = MetricNames(
        generation_tokens="trtllm_generation_tokens", prompt_tokens="trtllm_prompt_tokens",
        requests_running="trtllm_num_requests_running", requests_waiting="trtllm_num_requests_waiting",
        kv_cache_usage=("trtllm_kv_cache_utilization",),
        ttft_seconds=("trtllm_time_to_first_token_seconds", "time_to_first_token_seconds"),
        itl_seconds=("trtllm_time_per_output_token_seconds", "time_per_output_token_seconds"),
    )

    def command(self, plan: LaunchPlan, runtime: Any, server_name: str, secret_names: Sequence[str]) -> list[str]:
        from spark_tui.engines.runtime import run_argv

        return run_argv(list(plan.argv), plan, runtime, server_name, secret_names)

    def read_command(self, plan: LaunchPlan, text: str) -> LaunchPlan:
        argv = _split(text)
        words = argv[2:] if argv[1:2] == ["serve"] else argv[1:]
        if len(argv) < 2 or not words or words[0].startswith("-"):
            raise UsageError(USAGE)
        from spark_tui.engines.validate import port as valid_port

        port_text = _option(words, "--port") or "8000"
        try:
            port = int(port_text)
        except ValueError:
            raise UsageError(f"Cannot read that command: --port must be a number, not '{port_text}'.") from None
        valid_port(port)
        # No --host: trtllm-serve listens on localhost (its default), not on every interface.
        host = _option(words, "--host") or "localhost"
        return replace(plan, argv=tuple(argv), model=words[0], host=host, port=port)

    def with_port(self, plan: LaunchPlan, port: int) -> LaunchPlan:
        from spark_tui.engines.options import with_option

        return replace(plan, argv=with_option(plan.argv, "--port", str(port)), port=port)

    def ready(self, url: str, model: str, api_key: str | None) -> bool:
        from spark_tui.engines.http import serves

        return serves(url, model)  # trtllm-serve takes no API key

    def scrape(self, url: str, api_key: str | None) -> MetricsSample | None:
        return scrape(url, self.metric_names)

    def progress(self, lines: list[str]) -> str:
        return phase_of(PHASES, lines)

    def startup_figures(self, lines: list[str]) -> dict[str, Any]:
        return startup_figures(lines)

    def our_request(self, line: str, host: str) -> bool:
        from spark_tui.engines.vllm import our_request  # the same uvicorn access log

        # Our scrape of /prometheus/metrics too: read as the /metrics request it stands for.
        return our_request(line.replace('"GET /prometheus/metrics ', '"GET /metrics '), host)


TRTLLM = TrtllmAdapter()


# --- metrics ---
def _prometheus(text: str, names: MetricNames) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families  # only where metrics are read

    values: dict[str, float] = {}
    for family in text_string_to_metric_families(relevant_lines(text, names)):
        for sample in family.samples:
            name = sample.name.removesuffix("_total")
            values[name] = values.get(name, 0.0) + sample.value
    return values


def _iteration_stats(text: str) -> dict[str, Any] | None:
    """The newest iteration's stats from /metrics (a JSON list, oldest first); None for an empty list (no iteration
    ran since the last reader drained it) or anything else."""
    try:
        stats = json.loads(text)
    except ValueError:
        return None
    if not isinstance(stats, list) or not stats or not isinstance(stats[-1], dict):
        return None
    return stats[-1]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def scrape(url: str, names: MetricNames, timeout: float = 1.0) -> MetricsSample | None:
    """One sample: the Prometheus families where this version serves them, and where it has no gauges for requests
    and KV use (the first collector), the newest iteration stats of the JSON /metrics. Whatever neither carries is
    None. None when the server answered neither."""
    import time

    from spark_tui.engines.http import get_text

    base = url.rstrip("/")
    values: dict[str, float] = {}
    prometheus = get_text(base + "/prometheus/metrics", timeout=timeout)
    answered = prometheus is not None
    if prometheus is not None and prometheus[0] == 200:
        try:
            values = _prometheus(prometheus[1], names)
        except ValueError:
            values = {}

    def have(name: str) -> float | None:
        return values.get(name)

    running, waiting = have(names.requests_running), have(names.requests_waiting)
    kv = next((values[n] for n in names.kv_cache_usage if n in values), None)
    if running is None or kv is None:
        # /metrics drains the server's queue of iteration stats: read only when Prometheus lacks these (another
        # reader of /metrics would miss what we take).
        stats_answer = get_text(base + "/metrics", timeout=max(timeout, 2.5))  # it waits up to 2 s for stats
        answered = answered or stats_answer is not None
        stats = _iteration_stats(stats_answer[1]) if stats_answer and stats_answer[0] == 200 else None
        if stats is not None:
            running = running if running is not None else _number(stats.get("numActiveRequests"))
            waiting = waiting if waiting is not None else _number(stats.get("numQueuedRequests"))
            blocks = stats.get("kvCacheStats")
            blocks = blocks if isinstance(blocks, dict) else {}
            used, total = _number(blocks.get("usedNumBlocks")), _number(blocks.get("maxNumBlocks"))
            if kv is None and used is not None and total:
                kv = used / total
    if not answered:
        return None

    def histogram(family: tuple[str, ...], part: str) -> float:
        return next((values[f"{n}_{part}"] for n in family if f"{n}_{part}" in values), 0.0)

    return MetricsSample(
        t=time.time(), generation_tokens=have(names.generation_tokens), prompt_tokens=have(names.prompt_tokens),
        requests_running=running, requests_waiting=waiting, kv_cache_usage=kv,
        ttft_sum=histogram(names.ttft_seconds, "sum"), ttft_count=histogram(names.ttft_seconds, "count"),
        itl_sum=histogram(names.itl_seconds, "sum"), itl_count=histogram(names.itl_seconds, "count"))


# --- start-up figures ---
GIB = 1024**3
_VERSION = re.compile(r"\[TensorRT-LLM\] TensorRT-LLM version: (\S+)")
_WEIGHTS = re.compile(r"Use ([\d.]+) GB for model weights|Memory used after loading model weights \(inside torch\) "
                      r"in memory usage profiling: ([\d.]+) GiB")
_KV_POOL = re.compile(r"\[MemUsageChange\] Allocated ([\d.]+) GiB for max tokens in paged KV cache \((\d+)\)")
_SEQ_FIT = re.compile(r"Adjusted max_seq_len to (\d+)")
_STARTED = re.compile(r"Application startup complete")
# torch's wording (the playbook's troubleshooting table says "CUDA out of memory"); TRT-LLM's own allocator errors.
_OOM = re.compile(r"CUDA out of memory|OutOfMemoryError|CUDA error: out of memory|NV_ERR_NO_MEMORY|"
                  r"\[TensorRT-LLM\]\[ERROR\].*[Oo]ut of memory")


def startup_figures(lines: list[str]) -> dict[str, Any]:
    """The figures one launch's log printed (sizes in bytes; None where it printed none) and its outcome so far:
    "started", "oom", or None (not yet). The KV pool is the last `[MemUsageChange] … paged KV cache` line: the
    earlier one is the temporary cache of the memory profiling. Weights: "Use X GB" is decimal GB, the profiling
    line GiB."""
    version = weights = kv_bytes = kv_tokens = fit = None
    for line in lines:
        if version is None and (match := _VERSION.search(line)):
            version = match.group(1)
        if match := _WEIGHTS.search(line):
            weights = int(float(match.group(1)) * 1e9) if match.group(1) else int(float(match.group(2)) * GIB)
        if match := _KV_POOL.search(line):
            kv_bytes, kv_tokens = int(float(match.group(1)) * GIB), int(match.group(2))
        if match := _SEQ_FIT.search(line):
            fit = int(match.group(1))
    text = "\n".join(lines)
    outcome = "started" if _STARTED.search(text) else "oom" if _OOM.search(text) else None
    return {"outcome": outcome, "version": version, "weights_bytes": weights, "kv_cache_bytes": kv_bytes,
            "kv_cache_tokens": kv_tokens, "cudagraph_bytes": None, "max_model_len_fit": fit}
