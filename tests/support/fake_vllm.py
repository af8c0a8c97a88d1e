"""A stand-in for `vllm serve`, for tests: same argv, vLLM-style start-up log lines, and the same HTTP interface
(/health, /v1/models, streaming /v1/completions and /v1/chat/completions, /metrics with vLLM's metric names and
real counters). Behaviour is set through environment variables:

  FAKE_VLLM_DELAY=2.0          seconds of "loading" before the server answers /health
  FAKE_VLLM_TOKENS_PER_S=50    generation speed of each stream
  FAKE_VLLM_CRASH="line"       print this line (after the loading lines) and exit 1
  FAKE_VLLM_HANG=1             print the loading lines, then never become ready
  FAKE_VLLM_VERSION=0.28.0     what `vllm --version` prints
  FAKE_VLLM_WEIGHTS_GIB=5.4321  the start-up figures it prints: "Model loading took X GiB",
  FAKE_VLLM_KV_GIB=60.12        "Available KV cache memory: X GiB",
  FAKE_VLLM_KV_TOKENS=437760    "GPU KV cache size: N tokens",
  FAKE_VLLM_CUDAGRAPH_GIB=0.53  "Graph capturing finished in 5 secs, took X GiB" (not printed unless set)
  FAKE_VLLM_FAIL_KV=1          refuse to start as vLLM does when one request of max-model-len does not fit the KV
                               cache (the ValueError, after the weights and KV figures), exit 1
  FAKE_VLLM_FAIL_OOM=1         "torch.OutOfMemoryError: CUDA out of memory" after the weights, exit 1
  FAKE_VLLM_ARGV_FILE=PATH     write the argv it received (JSON list, without the program) to PATH

Run as: python tests/support/fake_vllm.py serve MODEL --host 127.0.0.1 --port 8000 [any vLLM flags]
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


def log(message: str) -> None:
    stamp = time.strftime("%m-%d %H:%M:%S")
    print(f"INFO {stamp} [fake_vllm.py] {message}", flush=True)


def _options(words: list[str]) -> dict[str, str]:
    """The options read here, parsed as `vllm serve` parses them (argparse; --max_model_len is --max-model-len;
    --port 8000 and --port=8000 alike; switches anywhere)."""
    import argparse

    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for name in ("--host", "--port", "--api-key", "--max-model-len"):
        parser.add_argument(name)
    dashed = [w.split("=", 1)[0].replace("_", "-") + w[len(w.split("=", 1)[0]):] if w.startswith("--") else w
              for w in words]
    known, _ = parser.parse_known_args(dashed)
    return {f"--{k.replace('_', '-')}": v for k, v in vars(known).items() if v is not None}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--version"]:
        print(os.environ.get("FAKE_VLLM_VERSION", "0.28.0"))
        return 0
    if argv[:1] != ["serve"] or len(argv) < 2:
        print("usage: vllm serve MODEL [options]", file=sys.stderr)
        return 2
    if os.environ.get("FAKE_VLLM_ARGV_FILE"):
        with open(os.environ["FAKE_VLLM_ARGV_FILE"], "w") as fh:
            json.dump(argv, fh)
    model = argv[1]
    options = _options(argv[2:])
    host, port = options.get("--host") or "127.0.0.1", int(options.get("--port") or 8000)
    rate = float(os.environ.get("FAKE_VLLM_TOKENS_PER_S", "50"))
    token = options.get("--api-key") or os.environ.get("VLLM_API_KEY")
    delay = float(os.environ.get("FAKE_VLLM_DELAY", "1.0"))

    def shut_down(*_: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM (the group's) while exiting is no traceback
        log("Shutting down")
        sys.exit(0)

    signal.signal(signal.SIGTERM, shut_down)

    log(f"vLLM API server version {os.environ.get('FAKE_VLLM_VERSION', '0.28.0')}")
    log(f"non-default args: {options}")
    log(f"Loading weights for {model}")
    time.sleep(delay / 2)
    env = os.environ.get
    log(f"Model loading took {env('FAKE_VLLM_WEIGHTS_GIB', '5.4321')} GiB and 3.210000 seconds")
    if env("FAKE_VLLM_FAIL_OOM"):
        print("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.", flush=True)
        return 1
    log(f"Available KV cache memory: {env('FAKE_VLLM_KV_GIB', '60.12')} GiB")
    if env("FAKE_VLLM_FAIL_KV"):
        length = options.get("--max-model-len", "40960")
        print(f"ValueError: To serve at least one request with the model's max seq len ({length}), 9.99 GiB KV cache "
              f"is needed, which is larger than the available KV cache memory ({env('FAKE_VLLM_KV_GIB', '60.12')} "
              "GiB). Based on the available memory, the estimated maximum model length is 2048. Try increasing "
              "`gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.", flush=True)
        return 1
    log(f"GPU KV cache size: {int(env('FAKE_VLLM_KV_TOKENS', '437760')):,} tokens")
    log("Maximum concurrency for 40,960 tokens per request: 10.69x")
    if os.environ.get("FAKE_VLLM_CRASH"):
        print(os.environ["FAKE_VLLM_CRASH"], flush=True)
        return 1
    log("Capturing CUDA graphs (mixed prefill-decode, PIECEWISE)")
    time.sleep(delay / 2)
    if env("FAKE_VLLM_CUDAGRAPH_GIB"):
        log(f"Graph capturing finished in 5 secs, took {env('FAKE_VLLM_CUDAGRAPH_GIB')} GiB")
    if os.environ.get("FAKE_VLLM_HANG"):
        while True:
            time.sleep(3600)

    registry = CollectorRegistry()
    labels = {"model_name": model, "engine": "0"}
    generation = Counter("vllm:generation_tokens", "Number of generation tokens processed.", list(labels),
                         registry=registry).labels(**labels)
    prompt = Counter("vllm:prompt_tokens", "Number of prefill tokens processed.", list(labels),
                     registry=registry).labels(**labels)
    running = Gauge("vllm:num_requests_running", "Number of requests in model execution batches.", list(labels),
                    registry=registry).labels(**labels)
    waiting = Gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", list(labels),
                    registry=registry).labels(**labels)
    waiting.set(0)  # the stand-in never queues: every request runs at once
    kv_usage = Gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", list(labels),
                     registry=registry).labels(**labels)
    ttft = Histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
                     list(labels), registry=registry).labels(**labels)
    itl = Histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
                    list(labels), registry=registry).labels(**labels)
    _the_rest_of_vllms_metrics(registry, labels)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            # As vLLM (uvicorn's access log): every request is a line, spark-tui's own polling included.
            phrase = HTTPStatus(code).phrase if isinstance(code, int) else ""
            host, port = self.client_address[:2]
            sys.stdout.write(f'INFO:     {host}:{port} - "{self.requestline}" {code} {phrase}\n')
            sys.stdout.flush()

        def _json(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _refused(self) -> bool:
            """As vLLM: with --api-key or VLLM_API_KEY, /v1 routes need `Authorization: Bearer KEY`."""
            if token and self.path.startswith("/v1") and self.headers.get("Authorization") != f"Bearer {token}":
                self._json(401, {"error": "Unauthorized"})
                return True
            return False

        def do_GET(self) -> None:
            if self._refused():
                return
            if self.path == "/health":
                self._json(200, {})
            elif self.path == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": model, "object": "model"}]})
            elif self.path == "/metrics":
                data = generate_latest(registry)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self._refused():
                return
            chat = self.path == "/v1/chat/completions"
            if self.path not in ("/v1/completions", "/v1/chat/completions"):
                self._json(404, {"error": "not found"})
                return
            tokens = int(body.get("max_tokens") or 16)
            prompt_text = json.dumps(body.get("messages")) if chat else str(body.get("prompt", ""))
            prompt.inc(max(1, len(prompt_text.split())))
            with lock:
                running.inc()
                kv_usage.set(min(1.0, running._value.get() * 0.05))
            start = time.perf_counter()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            last = start
            try:
                for i in range(tokens):
                    time.sleep(1.0 / rate)
                    now = time.perf_counter()
                    (ttft if i == 0 else itl).observe(now - (start if i == 0 else last))
                    last = now
                    choice = {"index": 0, "delta": {"content": " tok"}} if chat else {"index": 0, "text": " tok"}
                    self._chunk(f"data: {json.dumps({'choices': [choice]})}\n\n")
                    generation.inc()
                self._chunk("data: [DONE]\n\n")
                self._chunk("")
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                with lock:
                    running.dec()
                    kv_usage.set(min(1.0, running._value.get() * 0.05))

        def _chunk(self, text: str) -> None:
            data = text.encode()
            self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    log(f"Starting vLLM API server 0 on http://{host}:{port}")
    log("Application startup complete.")
    server.serve_forever()
    return 0


def _the_rest_of_vllms_metrics(registry: CollectorRegistry, labels: dict[str, str]) -> None:
    """The other families vLLM's /metrics carries (names from vllm/v1/metrics/loggers.py; bucket bounds are
    prometheus_client's defaults, not vLLM's), and the process/Python collectors of a real registry, so a scrape
    costs about what a real one does."""
    from prometheus_client.gc_collector import GCCollector
    from prometheus_client.platform_collector import PlatformCollector
    from prometheus_client.process_collector import ProcessCollector

    names = list(labels)
    for name in ("e2e_request_latency_seconds", "request_queue_time_seconds", "request_inference_time_seconds",
                 "request_prefill_time_seconds", "request_decode_time_seconds", "time_per_output_token_seconds",
                 "request_time_per_output_token_seconds", "request_prompt_tokens", "request_generation_tokens",
                 "iteration_tokens_total", "request_max_num_generation_tokens", "request_params_n",
                 "request_params_max_tokens"):
        Histogram(f"vllm:{name}", name.replace("_", " "), names, registry=registry).labels(**labels)
    for name in ("num_preemptions", "prefix_cache_queries", "prefix_cache_hits"):
        Counter(f"vllm:{name}", name.replace("_", " "), names, registry=registry).labels(**labels)
    success = Counter("vllm:request_success", "Count of successfully processed requests.", [*names, "finished_reason"],
                      registry=registry)
    for reason in ("stop", "length", "abort"):
        success.labels(**labels, finished_reason=reason)
    info = Gauge("vllm:cache_config_info", "Information of the LLMEngine CacheConfig",
                 ["block_size", "cache_dtype", "gpu_memory_utilization", "engine"], registry=registry)
    info.labels(block_size="16", cache_dtype="auto", gpu_memory_utilization="0.9", engine="0").set(1)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
