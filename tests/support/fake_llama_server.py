"""A stand-in for llama.cpp's `llama-server`, for tests: its option parser, start-up log lines, and HTTP interface,
written from llama.cpp's source (master as mirrored at ngxson/llama.cpp@3f545bec, build b10573):

- Options (common/arg.cpp): the server's 405 option words and whether each takes a value are in
  llama_server_options.json (extracted from arg.cpp's `add_opt(common_arg({...}, ...))` table, with each option's
  `set_examples`/`set_excludes`). An unknown word, `--opt=value` included, is "error: invalid argument: WORD" on
  stderr and exit 1; a missing value is "expected value for argument". `_` in a `--` word reads as `-`. The API key
  comes from --api-key or LLAMA_API_KEY; --host defaults to 127.0.0.1, --port to 8080 (common/common.h).
- `--version` (common/build-info.cpp.in): "version: 5558 (053b1539)" before b10400, "version: 0.2.0-dev (build N,
  commit C)" since, then "built with … for …", all on stderr.
- HTTP (tools/server/server-http.cpp, server-context.cpp): the server listens before the model loads; while loading
  every route answers 503 {"error":{"message":"Loading model","type":"unavailable_error","code":503}}; then /health
  is 200 {"status":"ok"} and public, everything else needs `Authorization: Bearer KEY` when a key is set (401
  {"error":{"message":"Invalid API Key","type":"authentication_error","code":401}}). /metrics without --metrics is
  501 "This server does not support metrics endpoint. Start it with `--metrics`"; with it, Prometheus text with the
  `llamacpp:` names of server-task.cpp `to_metrics` (values as C++ streams print doubles: 6 significant digits).
  /slots (on unless --no-slots) lists each slot's id, n_ctx, is_processing, n_prompt_tokens, next_token[0].n_decoded.
  /v1/models: data[].id is --alias or the model file's name, owned_by "llamacpp". /v1/completions and
  /v1/chat/completions stream OpenAI chunks.
- Log lines: libllama's (load_tensors / llama_kv_cache / sched_reserve) as printed since b6235/b7751 (formats in
  src/llama-model.cpp, llama-kv-cache.cpp, llama-context.cpp), shown only at -lv 4 from b9161 (#23021);
  `srv    load_model: loading model '…'`, `srv  llama_server: model loaded`, `srv  llama_server: listening on
  http://H:P` (SRV_INF: "srv  %12.*s: "), and `main: server is listening on http://H:P - starting the main loop`
  before b9838. Trace (-lv 4) request lines: `srv  log_server_r: done request: GET /slots 127.0.0.1 200` (not for
  /health, /metrics, /v1/models, /props). OOM: ggml-cuda.cu's "ggml_backend_cuda_buffer_type_alloc_buffer:
  allocating X MiB on device 0: cudaMalloc failed: out of memory" then llama-model.cpp's "unable to allocate CUDA0
  buffer", "failed to load model", "exiting due to model loading error".

Behaviour is set through environment variables:

  FAKE_LLAMA_BUILD=10573         the build it says it is (log formats, -lv semantics and --version follow it)
  FAKE_LLAMA_DELAY=1.0           seconds of loading (503 on /health) before it is ready
  FAKE_LLAMA_TOKENS_PER_S=50     generation speed of each stream
  FAKE_LLAMA_CRASH="line"        print this line after the KV cache lines and exit 1 (e.g. a CUDA error)
  FAKE_LLAMA_HANG=1              load, then never become ready
  FAKE_LLAMA_OOM=1               fail to allocate the weights as a CUDA build does, exit 1
  FAKE_LLAMA_ARGV_FILE=PATH      write the argv it received (JSON list, without the program) to PATH

Run as: python tests/support/fake_llama_server.py -m MODEL.gguf --host 127.0.0.1 --port 8080 [llama-server options]
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

OPTIONS: dict[str, int] = json.loads((Path(__file__).resolve().parent / "llama_server_options.json").read_text())
COMMIT = "d775b8967"
ERR = sys.stderr


def parse(words: list[str]) -> dict[str, str]:
    """As common_params_parse: every word must be a known option; the last of a repeated option stands."""
    seen: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i].replace("_", "-") if words[i].startswith("--") else words[i]
        if word not in OPTIONS:
            raise ValueError(f"error: invalid argument: {word}")
        if OPTIONS[word] == 0:
            seen[word] = "1"
            i += 1
            continue
        if i + OPTIONS[word] >= len(words):
            raise ValueError("expected value for argument")
        seen[word] = words[i + 1]
        i += 1 + OPTIONS[word]
    return seen


def first(options: dict[str, str], *names: str) -> str | None:
    return next((options[n] for n in names if n in options), None)


def main(argv: list[str]) -> int:
    build = int(os.environ.get("FAKE_LLAMA_BUILD", "10573"))
    try:
        options = parse(argv)
    except ValueError as exc:
        print(exc, file=ERR, flush=True)
        return 1
    if "--version" in options:
        if build >= 10400:
            print(f"version: 0.2.0-dev (build {build}, commit {COMMIT})", file=ERR)
        else:
            print(f"version: {build} ({COMMIT[:8]})", file=ERR)
        print("built with cc (Ubuntu 13.3.0-6ubuntu2~24.04) 13.3.0 for aarch64-linux-gnu", file=ERR)
        return 0
    if os.environ.get("FAKE_LLAMA_ARGV_FILE"):
        Path(os.environ["FAKE_LLAMA_ARGV_FILE"]).write_text(json.dumps(argv))
    verbosity = int(first(options, "-lv", "--verbosity", "--log-verbosity") or 3)
    if "-v" in options or "--verbose" in options:
        verbosity = 5
    libllama = build < 9161 or verbosity >= 4  # #23021: libllama INFO lines became trace

    def log(line: str, trace: bool = False) -> None:
        if trace and not libllama:
            return
        print(line, file=ERR, flush=True)

    model_path = first(options, "-m", "--model")
    repo = first(options, "-hf", "-hfr", "--hf-repo")
    if model_path is None and repo is None:
        log("srv  llama_server: error: no model given (-m or -hf)")
        return 1
    host = first(options, "--host") or "127.0.0.1"
    port = int(first(options, "--port") or 8080)
    token = first(options, "--api-key") or os.environ.get("LLAMA_API_KEY")
    n_parallel = int(first(options, "-np", "--parallel") or -1)
    unified = n_parallel < 0 or "-kvu" in options or "--kv-unified" in options
    n_slots = 4 if n_parallel < 0 else n_parallel
    n_ctx = int(first(options, "-c", "--ctx-size") or 40960)
    n_ctx_slot = n_ctx if unified else n_ctx // n_slots
    name = first(options, "-a", "--alias") or (Path(model_path).name if model_path else
                                                 (first(options, "-hff", "--hf-file") or repo or "model"))
    state = {"ready": False}

    log(f"build: {build} ({COMMIT[:8]}) with cc (Ubuntu 13.3.0-6ubuntu2~24.04) 13.3.0 for aarch64-linux-gnu",
        trace=build >= 9161)
    server = serve(host, port, state, options, token, n_slots, n_ctx_slot, name, verbosity, build)

    def shut_down(*_: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log("srv    operator(): operator(): cleaning up before exit...")
        os._exit(0)

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    where = model_path or repo
    log(f"srv    load_model: loading model '{where}'")
    if model_path is not None:
        path = Path(model_path)
        if not path.is_file() or path.read_bytes()[:4] != b"GGUF":
            log(f"gguf_init_from_file_impl: failed to read magic from '{model_path}'" if path.is_file() else
                f"gguf_init_from_file: failed to open GGUF file '{model_path}'")
            log(f"srv    load_model: failed to load model, '{model_path}'")
            log("srv  llama_server: exiting due to model loading error")
            server.shutdown()
            return 1
    delay = float(os.environ.get("FAKE_LLAMA_DELAY", "1.0"))
    log(f"llama_model_loader: loaded meta data with 30 key-value pairs and 399 tensors from {where} "
        "(version GGUF V3 (latest))", trace=True)
    log("load_tensors: loading model tensors, this can take a while... (load_mode = auto)", trace=True)
    time.sleep(delay / 2)
    if os.environ.get("FAKE_LLAMA_OOM"):
        log("ggml_backend_cuda_buffer_type_alloc_buffer: allocating 4455.35 MiB on device 0: cudaMalloc failed: "
            "out of memory")
        log("alloc_tensor_range: failed to allocate CUDA0 buffer of size 4671776768")
        log("llama_model_load: error loading model: unable to allocate CUDA0 buffer")
        log("llama_model_load_from_file_impl: failed to load model")
        log(f"srv    load_model: failed to load model, '{where}'")
        log("srv  llama_server: exiting due to model loading error")
        server.shutdown()
        return 1
    log("load_tensors: offloaded 37/37 layers to GPU", trace=True)
    log("load_tensors:        CUDA0 model buffer size =  4455.35 MiB", trace=True)
    log("load_tensors:   CPU_Mapped model buffer size =   333.84 MiB", trace=True)
    kv = n_ctx * 36 * 8 * 128 * 2 * 2 / 1024**2  # Qwen3-8B-shaped: 36 layers, 8 KV heads × 128, K and V, f16
    streams = 1 if unified else n_slots
    log(f"llama_kv_cache:      CUDA0 KV buffer size = {kv:8.2f} MiB", trace=True)
    log(f"llama_kv_cache: size = {kv:7.2f} MiB ({n_ctx_slot:6d} cells,  36 layers, {n_slots:2d}/{streams} seqs), "
        f"K (f16): {kv / 2:7.2f} MiB, V (f16): {kv / 2:7.2f} MiB", trace=True)
    if os.environ.get("FAKE_LLAMA_CRASH"):
        log(os.environ["FAKE_LLAMA_CRASH"])
        server.shutdown()
        return 1
    log("sched_reserve:      CUDA0 compute buffer size =   304.75 MiB", trace=True)
    log("sched_reserve:  CUDA_Host compute buffer size =    88.01 MiB", trace=True)
    log(f"srv    load_model: initializing, n_slots = {n_slots}, n_ctx_slot = {n_ctx_slot}, kv_unified = "
        f"'{'true' if unified else 'false'}'")
    time.sleep(delay / 2)
    if os.environ.get("FAKE_LLAMA_HANG"):
        while True:
            time.sleep(3600)
    state["ready"] = True
    log("srv  llama_server: model loaded" if build >= 9838 else "main: model loaded")
    if build >= 9838:
        log(f"srv  llama_server: listening on http://{host}:{port}")
    else:
        log(f"main: server is listening on http://{host}:{port} - starting the main loop")
    while True:
        time.sleep(3600)


class Metrics:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.prompt_tokens = 0
        self.prompt_seconds = 0.0
        self.predicted = 0
        self.predicted_seconds = 0.0
        self.n_decode = 0
        self.n_tokens_max = 0
        self.processing = 0

    def text(self) -> str:
        counters = [("prompt_tokens_total", "Number of prompt tokens processed, excluding cached tokens",
                     self.prompt_tokens),
                    ("prompt_tokens_cached_total", "Number of prompt tokens reused from the cache", 0),
                    ("prompt_seconds_total", "Total time spent processing prompts", self.prompt_seconds),
                    ("tokens_predicted_total", "Number of generation tokens processed", self.predicted),
                    ("tokens_predicted_seconds_total", "Total time spent generating tokens", self.predicted_seconds),
                    ("n_decode_total", "Total number of llama_decode() calls, excluding speculative decoding and "
                     "multimodal decoding", self.n_decode),
                    ("n_tokens_max", "Largest observed sequence length (prompt + generation)", self.n_tokens_max)]
        gauges = [("prompt_tokens_seconds", "Average prompt throughput in tokens/s", 0.0),
                  ("predicted_tokens_seconds", "Average generation throughput in tokens/s",
                   self.predicted / self.predicted_seconds if self.predicted_seconds else 0.0),
                  ("requests_processing", "Number of requests processing", self.processing),
                  ("requests_deferred", "Number of requests deferred", 0),
                  ("n_busy_slots_per_decode", "Average number of busy slots per llama_decode() call", 1.0)]
        out = []
        for kind, items in (("counter", counters), ("gauge", gauges)):
            for name, help_text, value in items:
                out += [f"# HELP llamacpp:{name} {help_text}", f"# TYPE llamacpp:{name} {kind}",
                        f"llamacpp:{name} {float(value):g}"]
        return "\n".join(out) + "\n"


def serve(host: str, port: int, state: dict, options: dict[str, str], token: str | None, n_slots: int,
          n_ctx_slot: int, name: str, verbosity: int, build: int) -> ThreadingHTTPServer:
    rate = float(os.environ.get("FAKE_LLAMA_TOKENS_PER_S", "50"))
    metrics = Metrics()
    slots = [{"id": i, "n_ctx": n_ctx_slot, "speculative": False, "is_processing": False} for i in range(n_slots)]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            path = self.path.split("?", 1)[0]
            if build >= 9161:  # log_server_request: trace, and not for the endpoints polled all the time
                if verbosity >= 4 and path not in ("/health", "/v1/health", "/models", "/v1/models", "/props",
                                                   "/metrics"):
                    print(f"srv  log_server_r: done request: {self.command} {path} {self.client_address[0]} "
                          f"{code}", file=ERR, flush=True)
            elif path not in ("/v1/health", "/v1/completions"):  # b4747: every request but these, at info
                print(f"srv  log_server_r: request: {self.command} {path} {self.client_address[0]} {code}",
                      file=ERR, flush=True)

        def _json(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, kind: str) -> None:
            self._json(status, {"error": {"message": message, "type": kind, "code": status}})

        def _refused(self) -> bool:
            path = self.path.split("?", 1)[0]
            if not state["ready"]:
                self._error(503, "Loading model", "unavailable_error")
                return True
            if token and path not in ("/health", "/v1/health"):
                given = self.headers.get("Authorization", "") or self.headers.get("X-Api-Key", "")
                if given.removeprefix("Bearer ") != token:
                    print("srv    operator(): unauthorized: Invalid API Key", file=ERR, flush=True)
                    self._error(401, "Invalid API Key", "authentication_error")
                    return True
            return False

        def do_GET(self) -> None:
            if self._refused():
                return
            path = self.path.split("?", 1)[0]
            if path in ("/health", "/v1/health"):
                self._json(200, {"status": "ok"})
            elif path in ("/v1/models", "/models"):
                self._json(200, {"object": "list", "data": [{"id": name, "object": "model", "created": int(
                    time.time()), "owned_by": "llamacpp", "meta": {"n_ctx": n_ctx_slot}}]})
            elif path == "/metrics":
                if "--metrics" not in options:
                    self._error(501, "This server does not support metrics endpoint. Start it with `--metrics`",
                                "not_supported_error")
                    return
                with metrics.lock:
                    data = metrics.text().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            elif path == "/slots":
                if "--no-slots" in options:
                    self._error(501, "This server does not support slots endpoint. Start it with `--slots`",
                                "not_supported_error")
                    return
                with metrics.lock:
                    self._json(200, slots)
            else:
                self._error(404, "File Not Found", "not_found_error")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._error(400, "invalid JSON", "invalid_request_error")
                return
            if self._refused():
                return
            path = self.path.split("?", 1)[0]
            chat = path in ("/v1/chat/completions", "/chat/completions")
            if path not in ("/v1/completions", "/completions", "/v1/chat/completions", "/chat/completions"):
                self._error(404, "File Not Found", "not_found_error")
                return
            tokens = int(body.get("max_tokens") or 16)
            text = json.dumps(body.get("messages")) if chat else str(body.get("prompt", ""))
            n_prompt = max(1, len(text.split()))
            with metrics.lock:
                slot = next((s for s in slots if not s["is_processing"]), None)
                if slot is None:
                    self._error(503, "no slot available", "unavailable_error")
                    return
                slot.update(is_processing=True, n_prompt_tokens=n_prompt, next_token=[{"n_decoded": 0}])
                metrics.processing += 1
                metrics.prompt_tokens += n_prompt
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            start = time.perf_counter()
            try:
                for i in range(tokens):
                    time.sleep(1.0 / rate)
                    choice = {"index": 0, "delta": {"content": " tok"}} if chat else {"index": 0, "text": " tok"}
                    self._chunk(f"data: {json.dumps({'choices': [choice], 'model': name})}\n\n")
                    with metrics.lock:
                        metrics.predicted += 1
                        metrics.n_decode += 1
                        slot["next_token"][0]["n_decoded"] = i + 1
                self._chunk("data: [DONE]\n\n")
                self._chunk("")
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                with metrics.lock:
                    metrics.predicted_seconds += time.perf_counter() - start
                    metrics.n_tokens_max = max(metrics.n_tokens_max, n_prompt + tokens)
                    metrics.processing -= 1
                    slot["is_processing"] = False

        def _chunk(self, text: str) -> None:
            data = text.encode()
            self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError:
        print(f"srv    start(): couldn't bind HTTP server socket, hostname: {host}, port: {port}", file=ERR,
              flush=True)
        sys.exit(1)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
