"""A stand-in for TensorRT-LLM's `trtllm-serve` (PyTorch backend), for tests: its command line, start-up log lines and
HTTP interface, written from these sources (NVIDIA/TensorRT-LLM unless said otherwise):

- tensorrt_llm/commands/serve.py: a click command `trtllm-serve [serve] MODEL [options]`; option names as declared
  (`--max_batch_size`; click rejects `--max-batch-size` with "Error: No such option", exit 2); `--backend` one of
  pytorch / tensorrt / _autodeploy (alias trt); `--host` localhost, `--port` 8000 by default; no API key.
- tensorrt_llm/serve/openai_server.py: the LLM is built before the HTTP server starts (nothing listens while it
  loads); GET /health 200 (503 "LLM is unavailable. Please check the server logs for more details." once the
  executor died); /v1/models; /version {"version": …}; /metrics: JSON list of iteration stats, drained on each read,
  filled only with `enable_iter_perf_stats` (docs/source/commands/trtllm-serve/trtllm-serve.rst); /prometheus/metrics
  mounted only with `return_perf_metrics` (PR #5785), names from tensorrt_llm/metrics/collector.py.
- Log lines as a DGX Spark start-up of 1.1.0rc3 printed them (the version banner, "Use X GB for model weights.",
  "[MemUsageChange] Allocated X GiB for max tokens in paged KV cache (N)." twice, uvicorn's lines).

Behaviour is set through environment variables:

  FAKE_TRTLLM_VERSION=1.3.0rc13  the version it says it is
  FAKE_TRTLLM_DELAY=1.0          seconds of loading before it listens
  FAKE_TRTLLM_TOKENS_PER_S=50    generation speed of each stream
  FAKE_TRTLLM_METRICS=collector  what /prometheus/metrics carries: "collector" (the trtllm_* families with token
                                 counters) or "basic" (PR #5785's five unprefixed families, no tokens or gauges)
  FAKE_TRTLLM_KV_GIB=5.95        the KV pool it prints (and tokens: FAKE_TRTLLM_KV_TOKENS=86720)
  FAKE_TRTLLM_CRASH="line"       print this line after the weights and exit 1
  FAKE_TRTLLM_HANG=1             print the loading lines, then never listen
  FAKE_TRTLLM_FAIL_OOM=1         "torch.OutOfMemoryError: CUDA out of memory" while loading weights, exit 1
  FAKE_TRTLLM_ARGV_FILE=PATH     write the argv it received (JSON list, without the program) to PATH
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# serve.py's options (value-taking, then flags); aliases as click declares them.
VALUED = {"--host", "--port", "--log_level", "--backend", "--max_beam_width", "--max_batch_size", "--max_num_tokens",
          "--max_seq_len", "--tensor_parallel_size", "--tp_size", "--pipeline_parallel_size", "--pp_size",
          "--context_parallel_size", "--cp_size", "--moe_expert_parallel_size", "--ep_size", "--gpus_per_node",
          "--free_gpu_memory_fraction", "--kv_cache_free_gpu_memory_fraction", "--num_postprocess_workers",
          "--config", "--extra_llm_api_options", "--reasoning_parser", "--tool_parser", "--revision",
          "--chat_template", "--tokenizer", "--media_io_kwargs", "--metadata_server_config_file", "--server_role"}
FLAGS = {"--trust_remote_code", "--enable_chunked_prefill", "--fail_fast_on_attention_window_too_large"}
BACKENDS = {"pytorch", "tensorrt", "trt", "_autodeploy"}
UNAVAILABLE = "LLM is unavailable. Please check the server logs for more details."


def stamp() -> str:
    return time.strftime("[%m/%d/%Y-%H:%M:%S]")


def info(message: str) -> None:
    print(f"{stamp()} [TRT-LLM] [I] {message}", flush=True)


def usage_error(message: str) -> int:
    """click's way of refusing a command line."""
    print("Usage: trtllm-serve serve [OPTIONS] MODEL\nTry 'trtllm-serve serve --help' for help.\n\n"
          f"Error: {message}", file=sys.stderr, flush=True)
    return 2


def parse(words: list[str]) -> tuple[str | None, dict[str, str], str | None]:
    """(model, options, error) as click reads them: options before or after MODEL, `--opt V` or `--opt=V`."""
    model = None
    options: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--"):
            name, eq, value = word.partition("=")
            if name in FLAGS:
                options[name] = "true"
            elif name in VALUED:
                if not eq:
                    if i + 1 >= len(words):
                        return None, options, f"Option '{name}' requires an argument."
                    i += 1
                    value = words[i]
                options[name] = value
            else:
                return None, options, f"No such option: {name}"
        elif model is None:
            model = word
        else:
            return None, options, f"Got unexpected extra argument ({word})"
        i += 1
    if model is None:
        return None, options, "Missing argument 'MODEL'."
    return model, options, None


def read_yaml(path: str) -> dict[str, object]:
    """The YAML spark-tui writes (top-level `key: value`, one level of nesting): enough to see which keys are on."""
    found: dict[str, object] = {}
    parent = None
    with open(path) as fh:
        for raw in fh:
            line = raw.rstrip()
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            key, _, value = line.strip().partition(":")
            value = value.strip().strip('"')
            if line.startswith(" ") and parent is not None:
                nested = found.setdefault(parent, {})
                assert isinstance(nested, dict)
                nested[key] = value
            elif value:
                found[key] = value
                parent = None
            else:
                parent = key
    return found


def main(argv: list[str]) -> int:
    words = argv[1:] if argv[:1] == ["serve"] else argv
    model, options, error = parse(words)
    if error:
        return usage_error(error)
    backend = options.get("--backend", "pytorch")
    if backend not in BACKENDS:
        return usage_error(f"Invalid value for '--backend': '{backend}' is not one of 'pytorch', 'tensorrt', "
                           "'_autodeploy'.")
    for name in ("--port", "--max_batch_size", "--max_seq_len", "--max_num_tokens", "--tp_size"):
        if name in options and not options[name].isdigit():
            return usage_error(f"Invalid value for '{name}': '{options[name]}' is not a valid integer.")
    if os.environ.get("FAKE_TRTLLM_ARGV_FILE"):
        with open(os.environ["FAKE_TRTLLM_ARGV_FILE"], "w") as fh:
            json.dump(argv, fh)
    extra_path = options.get("--extra_llm_api_options") or options.get("--config")
    extra = read_yaml(extra_path) if extra_path else {}
    env = os.environ.get
    version = env("FAKE_TRTLLM_VERSION", "1.3.0rc13")
    host, port = options.get("--host", "localhost"), int(options.get("--port", "8000"))
    delay = float(env("FAKE_TRTLLM_DELAY", "1.0"))
    rate = float(env("FAKE_TRTLLM_TOKENS_PER_S", "50"))

    def shut_down(*_: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("INFO:     Shutting down", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, shut_down)

    print(f"[TensorRT-LLM] TensorRT-LLM version: {version}", flush=True)
    info("Using LLM with PyTorch backend")
    info("Use 15.27 GB for model weights.")
    if env("FAKE_TRTLLM_FAIL_OOM"):
        time.sleep(delay / 2)
        print("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.50 GiB. GPU 0 has a total capacity of "
              "119.70 GiB of which 512.00 MiB is free.", flush=True)
        return 1
    print("Loading weights: 100%|██████████| 399/399 [00:06<00:00, 61.20it/s]", flush=True)
    time.sleep(delay / 2)
    print("Model init total -- 7.52s", flush=True)
    if env("FAKE_TRTLLM_CRASH"):
        print(env("FAKE_TRTLLM_CRASH"), flush=True)
        return 1
    seq = options.get("--max_seq_len", "40960")
    info(f"max_seq_len={seq}, max_num_requests={options.get('--max_batch_size', '2048')}, max_num_tokens=8192, "
         f"max_batch_size={options.get('--max_batch_size', '2048')}")
    print("[TensorRT-LLM][INFO] Number of tokens per block: 32.", flush=True)
    print("[TensorRT-LLM][INFO] [MemUsageChange] Allocated 0.56 GiB for max tokens in paged KV cache (8224).",
          flush=True)
    info("Memory used after loading model weights (inside torch) in memory usage profiling: 15.42 GiB")
    fraction = options.get("--kv_cache_free_gpu_memory_fraction") or options.get("--free_gpu_memory_fraction", "0.9")
    kv_gib, kv_tokens = env("FAKE_TRTLLM_KV_GIB", "5.95"), int(env("FAKE_TRTLLM_KV_TOKENS", "86720"))
    info(f"Peak memory during memory usage profiling (torch + non-torch): 20.11 GiB, available KV cache memory when "
         f"calculating max tokens: {kv_gib} GiB, fraction is set {fraction}, kv size per token is 73728. device total "
         "memory 119.70 GiB, temporary kv cache memory during profiling 0.56 GiB")
    print(f"[TensorRT-LLM][INFO] [MemUsageChange] Allocated {kv_gib} GiB for max tokens in paged KV cache "
          f"({kv_tokens}).", flush=True)
    if env("FAKE_TRTLLM_HANG"):
        while True:
            time.sleep(3600)
    return serve(model or "", host, port, version, extra, rate, kv_tokens)


def serve(model: str, host: str, port: int, version: str, extra: dict[str, object], rate: float,
          kv_tokens: int) -> int:
    iter_stats = str(extra.get("enable_iter_perf_stats", "")).lower() == "true"
    prometheus = str(extra.get("return_perf_metrics", "")).lower() == "true"
    basic = os.environ.get("FAKE_TRTLLM_METRICS", "collector") == "basic"
    prefix = "" if basic else "trtllm_"
    registry = CollectorRegistry()
    labels = {"model_name": model, "engine_type": "trtllm"}
    names = list(labels)
    success = Counter(f"{prefix}request_success", "Count of successfully processed requests.",
                      [*names, "finished_reason"], registry=registry)
    ttft = Histogram(f"{prefix}time_to_first_token_seconds", "Histogram of time to first token in seconds.", names,
                     registry=registry).labels(**labels)
    tpot = Histogram(f"{prefix}time_per_output_token_seconds", "Histogram of time per output token in seconds.",
                     names, registry=registry).labels(**labels)
    Histogram(f"{prefix}e2e_request_latency_seconds", "Histogram of end to end request latency in seconds.", names,
              registry=registry).labels(**labels)
    Histogram(f"{prefix}request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", names,
              registry=registry).labels(**labels)
    gauges: dict[str, object] = {}
    if not basic:
        gauges["prompt"] = Counter("trtllm_prompt_tokens", "Cumulative number of prompt (input) tokens processed.",
                                   names, registry=registry).labels(**labels)
        gauges["generation"] = Counter("trtllm_generation_tokens", "Cumulative number of generation (output) tokens "
                                       "produced.", names, registry=registry).labels(**labels)
        gauges["running"] = Gauge("trtllm_num_requests_running", "Number of active requests", names,
                                  registry=registry).labels(**labels)
        gauges["waiting"] = Gauge("trtllm_num_requests_waiting", "Number of queued requests", names,
                                  registry=registry).labels(**labels)
        gauges["kv"] = Gauge("trtllm_kv_cache_utilization", "KV cache utilization", names,
                             registry=registry).labels(**labels)
    blocks_total = max(1, kv_tokens // 32)
    lock = threading.Lock()
    state = {"active": 0, "iter": 0, "used_blocks": 0}
    queue: list[dict[str, object]] = []  # iteration stats not yet read from /metrics

    def iteration() -> None:
        """One executor iteration's stats (only with enable_iter_perf_stats), and the gauges fed from them."""
        with lock:
            state["iter"] += 1
            used = state["used_blocks"]
            stat = {"iter": state["iter"], "iterLatencyMS": 1000.0 / rate, "gpuMemUsage": 21_000_000_000,
                    "numActiveRequests": state["active"], "numQueuedRequests": 0, "maxNumActiveRequests": 2048,
                    "kvCacheStats": {"maxNumBlocks": blocks_total, "freeNumBlocks": blocks_total - used,
                                     "usedNumBlocks": used, "tokensPerBlock": 32, "allocTotalBlocks": used,
                                     "allocNewBlocks": used, "reusedBlocks": 0, "missedBlocks": used,
                                     "cacheHitRate": 0.0}}
            if not iter_stats:
                return
            queue.append(stat)
            del queue[:-1000]
            if "running" in gauges:
                gauges["running"].set(state["active"])  # type: ignore[attr-defined]
                gauges["waiting"].set(0)  # type: ignore[attr-defined]
                gauges["kv"].set(used / blocks_total)  # type: ignore[attr-defined]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            phrase = HTTPStatus(code).phrase if isinstance(code, int) else ""
            client_host, client_port = self.client_address[:2]
            sys.stdout.write(f'INFO:     {client_host}:{client_port} - "{self.requestline}" {code} {phrase}\n')
            sys.stdout.flush()

        def _send(self, status: int, data: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _json(self, status: int, body: object) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def do_GET(self) -> None:
            if self.path == "/health":
                self._send(200, b"", "text/plain")
            elif self.path == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": model, "object": "model", "created": 0,
                                                             "owned_by": "tensorrt_llm"}]})
            elif self.path == "/version":
                self._json(200, {"version": version})
            elif self.path == "/metrics":
                with lock:
                    drained = list(queue)
                    queue.clear()
                self._json(200, drained)
            elif self.path == "/prometheus/metrics" and prometheus:
                self._send(200, generate_latest(registry), "text/plain; version=0.0.4; charset=utf-8")
            else:
                self._json(404, {"detail": "Not Found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path != "/v1/completions":
                self._json(404, {"detail": "Not Found"})
                return
            tokens = int(body.get("max_tokens") or 16)
            prompt_tokens = max(1, len(str(body.get("prompt", "")).split()))
            with lock:
                state["active"] += 1
                state["used_blocks"] += 1 + (prompt_tokens + tokens) // 32
            iteration()
            start = last = time.perf_counter()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for i in range(tokens):
                    time.sleep(1.0 / rate)
                    iteration()
                    now = time.perf_counter()
                    (ttft if i == 0 else tpot).observe(now - (start if i == 0 else last))
                    last = now
                    chunk = {"id": "cmpl-0", "object": "text_completion", "model": model,
                             "choices": [{"index": 0, "text": " tok", "finish_reason": None}]}
                    self._chunk(f"data: {json.dumps(chunk)}\n\n")
                self._chunk("data: [DONE]\n\n")
                self._chunk("")
                success.labels(**labels, finished_reason="length").inc()
                if "prompt" in gauges:  # the collector counts a request's tokens when it finishes
                    gauges["prompt"].inc(prompt_tokens)  # type: ignore[attr-defined]
                    gauges["generation"].inc(tokens)  # type: ignore[attr-defined]
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                with lock:
                    state["active"] -= 1
                    state["used_blocks"] -= 1 + (prompt_tokens + tokens) // 32
                iteration()

        def _chunk(self, text: str) -> None:
            data = text.encode()
            self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    print(f"INFO:     Started server process [{os.getpid()}]", flush=True)
    print("INFO:     Waiting for application startup.", flush=True)
    print("INFO:     Application startup complete.", flush=True)
    print(f"INFO:     Uvicorn running on http://{host}:{port} (Press CTRL+C to quit)", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
