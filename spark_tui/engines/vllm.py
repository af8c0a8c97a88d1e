"""vLLM's adapter: its `vllm serve` command line, readiness, log lines and metric names.

Sources: `vllm serve` is argparse-based (vllm/entrypoints/openai/cli_args.py: `--host` defaults to None, which
listens on every interface, `--port` to 8000; underscores and dashes are interchangeable in option names); the
server answers GET /health with 200 once the engine is up and lists the served model at /v1/models; /metrics is
Prometheus text with `vllm:` names (docs: "Production Metrics")."""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn

from spark_tui.engines.logs import phase_of
from spark_tui.errors import UsageError
from spark_tui.metrics.scrape import MetricNames, scrape

if TYPE_CHECKING:
    from spark_tui.advisor.types import LaunchPlan
    from spark_tui.metrics.scrape import MetricsSample

PHASES = (
    (re.compile(r"Application startup complete|Starting vLLM API server"), "serving"),
    (re.compile(r"Capturing CUDA graph"), "capturing CUDA graphs"),
    (re.compile(r"GPU KV cache size: ([\d,]+) tokens"), "KV cache {0} tokens"),
    (re.compile(r"Model loading took ([\d.]+) GiB"), "weights loaded ({0} GiB)"),
    (re.compile(r"Loading weights|Loading model|Loading safetensors"), "loading weights"),
)


class _CommandParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"Cannot read that command: {message}.", "It must be: vllm serve MODEL [options]")


def _parser() -> _CommandParser:
    """Only what the launch needs to know of a `vllm serve` command: the model, where it listens. Every other
    option passes through untouched (argparse's parse_known_args), so a switch such as --enforce-eager before
    --port cannot shift anything."""
    parser = _CommandParser(prog="vllm", add_help=False, allow_abbrev=False)
    parser.add_argument("subcommand")
    parser.add_argument("model")
    parser.add_argument("--host", dest="host", default=None)
    parser.add_argument("--port", dest="port", type=int, default=8000)
    return parser


def _dashed(word: str) -> str:
    if not word.startswith("--"):
        return word
    name, sep, value = word.partition("=")
    return name.replace("_", "-") + sep + value


class VllmAdapter:
    name = "vllm"
    title = "vLLM"
    # vLLM reads it when --api-key is absent (vllm/entrypoints/openai/cli_args.py).
    api_key_env: str | None = "VLLM_API_KEY"
    metric_names = MetricNames(
        generation_tokens="vllm:generation_tokens", prompt_tokens="vllm:prompt_tokens",
        requests_running="vllm:num_requests_running", requests_waiting="vllm:num_requests_waiting",
        kv_cache_usage=("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),  # the second: before 0.9
        ttft_seconds=("vllm:time_to_first_token_seconds",),
        itl_seconds=("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
    )

    def command(self, plan: LaunchPlan, runtime: Any, server_name: str, secret_names: Sequence[str]) -> list[str]:
        from spark_tui.engines.runtime import run_argv

        return run_argv(list(plan.argv), plan, runtime, server_name, secret_names)

    def read_command(self, plan: LaunchPlan, text: str) -> LaunchPlan:
        try:
            argv = shlex.split(text)
        except ValueError as exc:
            raise UsageError(f"Cannot read that command: {exc}.") from None
        if len(argv) < 3 or argv[1] != "serve":
            raise UsageError("The command must be: vllm serve MODEL [options]")
        # As vLLM's FlexibleArgumentParser does: --max_model_len is --max-model-len.
        words = [_dashed(w) for w in argv[1:]]
        known, _ = _parser().parse_known_args(words)
        from spark_tui.engines.validate import port as valid_port

        valid_port(known.port)
        # No --host: vLLM listens on every interface, so the record says so (and the app warns before launch).
        host = known.host if known.host is not None else "0.0.0.0"
        return replace(plan, argv=tuple(argv), model=known.model, host=host, port=known.port)

    def with_port(self, plan: LaunchPlan, port: int) -> LaunchPlan:
        """The plan listening on another port (its --port rewritten wherever it stands, or added)."""
        from spark_tui.engines.options import with_option

        return replace(plan, argv=with_option(plan.argv, "--port", str(port), _dashed), port=port)

    def ready(self, url: str, model: str, api_key: str | None) -> bool:
        from spark_tui.engines.http import serves

        # vLLM guards /v1 when given a key (not /health).
        return serves(url, model, {"Authorization": f"Bearer {api_key}"} if api_key else None)

    def scrape(self, url: str, api_key: str | None) -> MetricsSample | None:
        return scrape(url, self.metric_names)  # Prometheus text at /metrics, which vLLM's key does not guard

    def progress(self, lines: list[str]) -> str:
        return phase_of(PHASES, lines)

    def startup_figures(self, lines: list[str]) -> dict[str, Any]:
        return startup_figures(lines)

    def our_request(self, line: str, host: str) -> bool:
        return our_request(line, host)


VLLM = VllmAdapter()


GIB = 1024**3
# What vLLM prints at start-up (V1 wording first, then V0's), and how it says it ran out of memory.
_FIGURES = {
    "weights": re.compile(r"(?:Model loading took|Loading model weights took) (-?[\d.]+) (?:GiB|GB)"),
    "kv_bytes": re.compile(r"Available KV cache memory: (-?[\d.]+) GiB|the rest of the memory reserved for KV "
                           r"Cache is (-?[\d.]+) ?GiB|\bkv_cache_size=(-?[\d.]+)GiB"),
    "kv_tokens": re.compile(r"GPU KV cache size: ([\d,]+) tokens|stored in KV cache \((\d+)\)"),
    "gpu_blocks": re.compile(r"# (?:GPU|cuda) blocks: (\d+)"),
    "cudagraph": re.compile(r"Graph capturing finished in [\d.]+ secs?, took (-?[\d.]+) GiB"),
    "mml_fit": re.compile(r"estimated maximum model length is (\d+)"),
    "version": re.compile(r"vLLM API server version (\S+)|\u2588 version (\S+)|\bvLLM version (\d\S*)"),
}
_REFUSED_KV = re.compile(r"larger than the available KV cache memory|larger than the maximum number of tokens that "
                         r"can be stored in KV cache|No available memory for the cache blocks|To serve at least one "
                         r"request with the models?'s max seq len")
_OOM = re.compile(r"CUDA out of memory|OutOfMemoryError|CUDA error: out of memory|NV_ERR_NO_MEMORY")
# uvicorn's access log, as vLLM prints it (optionally after "(APIServer pid=N) "):
#   INFO:     127.0.0.1:47294 - "GET /metrics HTTP/1.1" 200 OK
_ACCESS = re.compile(r'\bINFO:\s+(?P<client>\[[0-9a-fA-F:.]+\]|[^\s:]+|[0-9a-fA-F:]+):\d+ - '
                     r'"(?:GET|HEAD) (?P<path>/metrics|/health|/v1/models)(?:\?\S*)? HTTP/[\d.]+" \d{3}\b')
_LOOPBACK = re.compile(r"^(?:127\.\d+\.\d+\.\d+|\[?::1\]?|::ffff:127\.\d+\.\d+\.\d+|localhost)$")


def our_request(line: str, host: str) -> bool:
    """An access-log line of a request spark-tui itself makes while it watches (the health check, /v1/models,
    /metrics every second) from this machine: noise in the log view, which hid the start-up lines within seconds.
    The same requests from elsewhere are kept."""
    match = _ACCESS.search(line)
    if match is None:
        return False
    client = match.group("client")
    return bool(_LOOPBACK.match(client)) or client.strip("[]") == host


_STARTED = re.compile(r"Application startup complete|Starting vLLM API server")


def startup_figures(lines: list[str], block_size: int = 16) -> dict[str, Any]:
    """The figures one launch's log printed (sizes in bytes; None where it printed none) and its outcome so far:
    "started", "refused_kv" (the KV cache too small for one request, or none at all), "oom", or None (not yet).
    With tensor parallelism every rank prints: the smallest KV figure is the one vLLM uses, the largest weights."""
    found: dict[str, list[float]] = {key: [] for key in _FIGURES if key != "version"}
    version = None
    for line in lines:
        for key, pattern in _FIGURES.items():
            match = pattern.search(line)
            if not match:
                continue
            value = next(g for g in match.groups() if g is not None)
            if key == "version":
                version = version or value
            else:
                found[key].append(float(value.replace(",", "")))

    def gib(key: str, smallest: bool) -> int | None:
        return int((min if smallest else max)(found[key]) * GIB) if found[key] else None

    tokens = int(min(found["kv_tokens"])) if found["kv_tokens"] else None
    if tokens is None and found["gpu_blocks"]:  # V0 prints blocks, not tokens
        tokens = int(min(found["gpu_blocks"])) * block_size
    kv_bytes = gib("kv_bytes", True)
    text = "\n".join(lines)
    outcome = None
    if _STARTED.search(text):
        outcome = "started"
    elif _REFUSED_KV.search(text) or (kv_bytes is not None and kv_bytes <= 0):
        outcome = "refused_kv"
    elif _OOM.search(text):
        outcome = "oom"
    return {"outcome": outcome, "version": version, "weights_bytes": gib("weights", False), "kv_cache_bytes": kv_bytes,
            "kv_cache_tokens": tokens, "cudagraph_bytes": gib("cudagraph", False),
            "max_model_len_fit": int(min(found["mml_fit"])) if found["mml_fit"] else None}
