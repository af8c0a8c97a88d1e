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
  FAKE_VLLM_RENDEZVOUS_S=60    across nodes: how long rank 0 waits for the other ranks (or for Ray's GPUs), and a
                               headless rank for rank 0, before giving up (exit 1)

Across nodes (engines/multinode.py), as vLLM's two multi-node engines behave:
- Ray-less, `--nnodes N --node-rank R --master-addr A --master-port P [--headless]`: a real TCP rendezvous. Rank 0
  listens on A:P and waits for the N-1 headless ranks (the waiting line is the stand-in's own words: vLLM's own
  rank-0 text is not confirmed); a headless rank prints vLLM's "Launching vLLM (v%s) headless multiproc executor,
  with head node address %s for torch.distributed process group." and connects (retrying until rank 0 listens).
  When a rank's connection drops, rank 0 prints vLLM's "Worker proc VllmWorker-R died unexpectedly (exit code: …),
  shutting down executor." (vllm/v1/executor/multiproc_executor.py) and exits 1; a rank whose head is gone exits 1.
- Ray, `--distributed-executor-backend ray`: joins the running Ray cluster (ray.init(RAY_ADDRESS or "auto")) and
  waits for tensor_parallel_size x pipeline_parallel_size GPUs in ray.cluster_resources(), printing vLLM's
  "Waiting for creating a placement group of specs for %d seconds. …" (vllm/v1/executor/ray_utils.py) meanwhile;
  then serves, and when a Ray node it started with dies (ray.nodes()) it prints vLLM's "RayWorkerProc rank=1 died
  unexpectedly, shutting down executor." (vllm/v1/executor/ray_executor_v2.py) and exits 1.

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
    for name in ("--host", "--port", "--api-key", "--max-model-len", "--nnodes", "--node-rank", "--master-addr",
                 "--master-port", "--distributed-executor-backend", "--tensor-parallel-size",
                 "--pipeline-parallel-size"):
        parser.add_argument(name)
    parser.add_argument("--headless", action="store_const", const="1")
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

    version = os.environ.get("FAKE_VLLM_VERSION", "0.28.0")
    patience = float(os.environ.get("FAKE_VLLM_RENDEZVOUS_S", "60"))
    if int(options.get("--nnodes") or 1) > 1:
        if options.get("--headless"):
            return _headless_rank(options, version, patience)
        _rank_zero(options, patience)
    elif options.get("--distributed-executor-backend") == "ray":
        _join_ray(options, patience)

    log(f"vLLM API server version {version}")
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


def _died(message: str) -> None:
    """The executor shuts the whole server down when one rank dies (the HTTP thread with it)."""
    print(f"ERROR {time.strftime('%m-%d %H:%M:%S')} [fake_vllm.py] {message}", flush=True)
    os._exit(1)


def _rank_zero(options: dict[str, str], patience: float) -> None:
    """Listen on --master-addr:--master-port; return once every other rank is connected (each connection then
    watched: its end is that rank's death)."""
    import socket

    nnodes = int(options["--nnodes"])
    address, port = options.get("--master-addr") or "127.0.0.1", int(options.get("--master-port") or 29501)
    listener = socket.create_server((address, port), reuse_port=False)
    listener.settimeout(1.0)
    log(f"[stand-in] waiting for {nnodes - 1} other node(s) at {address}:{port} (rank 0 of {nnodes})")
    ranks: dict[int, socket.socket] = {}
    deadline = time.monotonic() + patience
    while len(ranks) < nnodes - 1:
        if time.monotonic() > deadline:
            missing = sorted(set(range(1, nnodes)) - set(ranks))
            _died(f"[stand-in] node rank(s) {missing} did not join within {patience:g} s; not starting.")
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        conn.settimeout(10)
        try:
            rank = int(conn.recv(64).decode().strip() or "0")
        except (OSError, ValueError):
            conn.close()
            continue
        conn.settimeout(None)
        ranks[rank] = conn
        log(f"[stand-in] node rank {rank} joined")
    listener.close()

    def watch(rank: int, conn: socket.socket) -> None:
        while True:
            try:
                data = conn.recv(64)
            except OSError:
                data = b""
            if not data:
                _died(f"Worker proc VllmWorker-{rank} died unexpectedly (exit code: None), shutting down executor.")

    for rank, conn in ranks.items():
        threading.Thread(target=watch, args=(rank, conn), daemon=True).start()


def _headless_rank(options: dict[str, str], version: str, patience: float) -> int:
    """A headless rank: join rank 0 and stay until stopped (or until rank 0 is gone)."""
    import socket

    address, port = options.get("--master-addr") or "127.0.0.1", int(options.get("--master-port") or 29501)
    rank = int(options.get("--node-rank") or 1)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    log(f"Launching vLLM (v{version}) headless multiproc executor, with head node address {address} for "
        "torch.distributed process group.")
    deadline = time.monotonic() + patience
    while True:
        try:
            conn = socket.create_connection((address, port), timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                _died(f"[stand-in] rank {rank}: the head at {address}:{port} did not answer within {patience:g} s.")
            time.sleep(0.3)
    conn.sendall(f"{rank}\n".encode())
    conn.settimeout(None)
    while True:
        try:
            data = conn.recv(64)
        except OSError:
            data = b""
        if not data:
            _died(f"[stand-in] rank {rank}: the head at {address} is gone; shutting down.")


def _join_ray(options: dict[str, str], patience: float) -> None:
    """Join the running Ray cluster and wait for the plan's GPUs; then watch its nodes."""
    import logging

    import ray

    need = int(options.get("--tensor-parallel-size") or 1) * int(options.get("--pipeline-parallel-size") or 1)
    ray.init(address=os.environ.get("RAY_ADDRESS") or "auto", log_to_driver=False, logging_level=logging.ERROR,
             configure_logging=False)
    log(f"Connected to Ray cluster at {os.environ.get('RAY_ADDRESS') or 'auto'}")
    specs = [{"GPU": 1.0}] * need
    start = time.monotonic()
    interval = float(os.environ.get("FAKE_VLLM_PG_WAIT_INTERVAL", "10"))
    next_log = start + interval
    while ray.cluster_resources().get("GPU", 0) < need:
        now = time.monotonic()
        if now - start > patience:
            _died(f"Cannot provide a placement group of placement_group_specs={specs} within {patience:g} seconds. "
                  "See `ray status` and `ray list nodes` to make sure the cluster has enough resources.")
        if now >= next_log:
            print(f"INFO {time.strftime('%m-%d %H:%M:%S')} [ray_utils.py] Waiting for creating a placement group of "
                  f"specs for {int(now - start)} seconds. specs={specs}. Check `ray status` and `ray list nodes` to "
                  "see if you have enough resources, and make sure the IP addresses used by ray cluster are the same "
                  "as VLLM_HOST_IP environment variable specified in each node if you are running on a multi-node.",
                  flush=True)
            interval *= 2
            next_log = now + interval
        time.sleep(0.5)
    alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
    log(f"[stand-in] placement group of {need} GPU(s) ready on {len(alive)} Ray node(s)")

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                now_alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
            except Exception:  # the head's GCS is gone: the cluster is
                now_alive = set()
            if alive - now_alive:
                _died("RayWorkerProc rank=1 died unexpectedly, shutting down executor.")

    threading.Thread(target=watch, daemon=True).start()


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
