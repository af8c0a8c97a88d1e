"""llama.cpp's adapter: its `llama-server` command line, readiness, log lines and metric names.

Sources (llama.cpp master as mirrored at ngxson/llama.cpp@3f545bec, b10573, and b4747 for older formats):
- common/arg.cpp: options are `-x VALUE` / `--long VALUE` only; `--port=8080` is "error: invalid argument:
  --port=8080" (the parser looks each word up whole; `_` in a `--` option reads as `-`). `--api-key` falls back to
  the variable LLAMA_API_KEY; `--host` defaults to 127.0.0.1, `--port` to 8080 (common/common.h).
- tools/server/server-http.cpp: the HTTP server starts before the model loads; until then every route but the UI
  answers 503 {"error":{"message":"Loading model","type":"unavailable_error","code":503}}; /health (public, no key)
  answers 200 {"status":"ok"} once loaded. /metrics and /slots need the key when one is set.
- tools/server/server-task.cpp `to_metrics`: /metrics (only with --metrics) is Prometheus text with `llamacpp:`
  names; `kv_cache_usage_ratio` went with #13660 (b5441), so KV use is read from /slots when /metrics lacks it.
- Start-up lines: `load_tensors: … model buffer size = X MiB`, `llama_kv_cache…: … KV buffer size = X MiB`,
  `… compute buffer size = X MiB`, then `model loaded` and the listening line (`main: server is listening on …`
  up to b9837, `srv  llama_server: listening on …` since #25078). Since #23021 (b9161) libllama's INFO lines are
  printed only at verbosity 4, so a launch of a known build ≥ 9161 gets `-lv 4` (before that build `-lv 4` also
  turns on debug output, request and response bodies included, so it is not added)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from spark_tui.engines.logs import phase_of
from spark_tui.errors import UsageError
from spark_tui.metrics.scrape import MetricNames, parse

if TYPE_CHECKING:
    from spark_tui.advisor.types import LaunchPlan
    from spark_tui.metrics.scrape import MetricsSample

MIB = 1024**2
VERBOSE_FROM_BUILD = 9161  # 67b2b7f2f "logs : reduce (#23021)": libllama INFO → trace (-lv 4)
_VERBOSITY = ("-lv", "--verbosity", "--log-verbosity", "-v", "--verbose", "--log-verbose")
_MODEL = ("-m", "--model")
_HF_REPO = ("-hf", "-hfr", "--hf-repo")
_HF_FILE = ("-hff", "--hf-file")
_ALIAS = ("-a", "--alias")
_SPLIT = re.compile(r"^(?P<prefix>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")  # llama_split_path's format

# Furthest first. A failure is the furthest a launch gets, so it is said whatever loaded before it.
PHASES = (
    (re.compile(r"cudaMalloc failed: out of memory|allocating ([\d.]+ MiB) on device \d+: cudaMalloc failed"),
     "out of memory (cudaMalloc failed)"),
    (re.compile(r"failed to allocate (?:buffer for kv cache|compute (?:pp )?buffers)|unable to allocate \S+ "
                r"buffer|failed to allocate \S+ buffer of size"), "out of memory (a buffer could not be allocated)"),
    (re.compile(r"CUDA error: (.+)"), "CUDA error: {0}"),
    (re.compile(r"failed to load model|exiting due to model loading error"), "failed to load the model"),
    (re.compile(r"\bmodel loaded\b|server is listening on|srv +\S+: listening on "), "serving"),
    (re.compile(r"compute buffer size ="), "compute buffers reserved"),
    (re.compile(r"size =\s*[\d.]+ MiB \(\s*(\d+) cells"), "KV cache ({0} cells)"),
    (re.compile(r"KV buffer size|KV self size"), "KV cache"),
    (re.compile(r"model buffer size|llm_load_tensors: +\S+ buffer size"), "weights loaded"),
    (re.compile(r"loading model tensors|llama_model_loader: loaded meta data|load_model: loading model|"
                r"main: loading model"), "loading weights"),
)


def _long(word: str) -> str:
    """As llama.cpp's parser reads a word: `--ctx_size` is `--ctx-size`."""
    return word.replace("_", "-") if word.startswith("--") else word


def _value(argv: Sequence[str], names: tuple[str, ...]) -> str | None:
    """The value after the last of `names` in argv (llama.cpp keeps the last of a repeated option)."""
    found = None
    for i, word in enumerate(argv[:-1]):
        if _long(word) in names:
            found = argv[i + 1]
    return found


def _without(argv: list[str], names: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif _long(word) in names:
            skip = True
        else:
            out.append(word)
    return out


def _build(version: str | None) -> int | None:
    return int(version) if version and version.isdigit() else None


def cached_gguf(repo: str, file: str) -> str | None:
    """The local path of `file` (every part of a split GGUF) in the HF cache, or None if any part is missing."""
    from huggingface_hub import try_to_load_from_cache  # reads the cache's refs and snapshots only

    split = _SPLIT.match(file)
    parts = [file] if split is None else [f"{split['prefix']}-{i:05d}-of-{split['count']}.gguf"
                                          for i in range(1, int(split["count"]) + 1)]
    paths = []
    for part in parts:
        try:
            path = try_to_load_from_cache(repo, part)
        except ValueError:  # not a valid repo id or file name: not in the cache
            return None
        if not isinstance(path, str):
            return None
        paths.append(path)
    return paths[parts.index(file)] if file in parts else paths[0]


class LlamaServerAdapter:
    name = "llamacpp"
    title = "llama-server"
    api_key_env: str | None = "LLAMA_API_KEY"  # common/arg.cpp: --api-key ….set_env("LLAMA_API_KEY")
    metric_names = MetricNames(
        generation_tokens="llamacpp:tokens_predicted", prompt_tokens="llamacpp:prompt_tokens",
        requests_running="llamacpp:requests_processing", requests_waiting="llamacpp:requests_deferred",
        kv_cache_usage=("llamacpp:kv_cache_usage_ratio",),  # builds before b5441 only
        ttft_seconds=(), itl_seconds=(),  # llama-server keeps no latency histograms
    )

    def local_argv(self, plan: LaunchPlan) -> list[str]:
        """The plan's argv as spark-tui runs it: a GGUF already in the HF cache by path (`-m`, so it runs offline
        and, mapped, in a container), with --metrics (the metrics need it) and, for builds that hide start-up
        figures below verbosity 4, -lv 4."""
        argv = list(plan.argv)
        repo, file = _value(argv, _HF_REPO), _value(argv, _HF_FILE)
        if repo and file and _value(argv, _MODEL) is None:
            path = cached_gguf(repo, file)
            if path is not None:
                rest = _without(argv[1:], _HF_REPO + _HF_FILE)
                argv = [argv[0], "-m", path, *rest]
        if "--metrics" not in argv:
            argv.append("--metrics")
        build = _build(plan.engine_version)
        if build is not None and build >= VERBOSE_FROM_BUILD and not any(_long(w) in _VERBOSITY for w in argv):
            argv += ["-lv", "4"]
        return argv

    def launch_notes(self, plan: LaunchPlan) -> list[str]:
        """What the user should know about the command spark-tui runs for this plan."""
        argv = self.local_argv(plan)
        repo = _value(argv, _HF_REPO)
        if repo is None:
            return []
        file = _value(argv, _HF_FILE)
        what = f"{file} of {repo}" if file else repo
        return [f"{what} is not in the Hugging Face cache: llama-server downloads it itself at start-up "
                f"(spark-tui pull {repo.split(':')[0]} first to see the download and run it offline)"]

    def command(self, plan: LaunchPlan, runtime: Any, server_name: str, secret_names: Sequence[str]) -> list[str]:
        from spark_tui.engines.runtime import run_argv

        return run_argv(self.local_argv(plan), plan, runtime, server_name, secret_names)

    def read_command(self, plan: LaunchPlan, text: str) -> LaunchPlan:
        try:
            argv = shlex.split(text)
        except ValueError as exc:
            raise UsageError(f"Cannot read that command: {exc}.") from None
        if not argv or argv[0].rsplit("/", 1)[-1] != "llama-server":
            raise UsageError("The command must start with llama-server (llama-server -m FILE | --hf-repo REPO "
                             "[options]).")
        glued = next((w for w in argv[1:] if w.startswith("--") and "=" in w), None)
        if glued is not None:  # llama.cpp's parser: "error: invalid argument: --port=8080"
            name, _, value = glued.partition("=")
            raise UsageError(f"llama-server does not read '{glued}': write '{name} {value}'.")
        for names in (_MODEL, _HF_REPO, _HF_FILE, _ALIAS, ("--host",), ("--port",)):
            last = argv[-1]
            if _long(last) in names:
                raise UsageError(f"Cannot read that command: {last} needs a value.")
        port_text = _value(argv, ("--port",))
        try:
            port = int(port_text) if port_text is not None else 8080  # common/common.h: port = 8080
        except ValueError:
            raise UsageError(f"Cannot read that command: --port must be a number, not '{port_text}'.") from None
        from spark_tui.engines.validate import port as valid_port

        valid_port(port)
        host = _value(argv, ("--host",)) or "127.0.0.1"  # common/common.h: hostname = "127.0.0.1"
        source = _value(argv, _MODEL) or _value(argv, _HF_REPO)
        if source is None:
            raise UsageError("The command names no model: pass -m FILE or --hf-repo REPO.")
        same_source = source in plan.argv
        model = plan.model if same_source else (_value(argv, _ALIAS) or source)
        return replace(plan, argv=tuple(argv), model=model, host=host, port=port)

    def with_port(self, plan: LaunchPlan, port: int) -> LaunchPlan:
        from spark_tui.engines.options import with_option

        # llama-server refuses --port=N: only `--port N` is rewritten (or added).
        return replace(plan, argv=with_option(plan.argv, "--port", str(port), equals=False), port=port)

    def ready(self, url: str, model: str, api_key: str | None) -> bool:
        """/health: 503 "Loading model" while loading, 200 once the model is loaded (public: no key)."""
        import httpx

        from spark_tui.engines.http import client

        try:
            return bool(client().get(url + "/health", timeout=1.0).status_code == 200)
        except httpx.HTTPError:
            return False

    def scrape(self, url: str, api_key: str | None) -> MetricsSample | None:
        answer = _get(url + "/metrics", api_key)
        if answer is None or answer[0] != 200:
            return None
        sample = parse(answer[1], self.metric_names)
        if sample.kv_cache_usage is None:
            sample = replace(sample, kv_cache_usage=slots_kv_usage(url, api_key))
        return sample

    def progress(self, lines: list[str]) -> str:
        return phase_of(PHASES, lines)

    def startup_figures(self, lines: list[str]) -> dict[str, Any]:
        return startup_figures(lines)

    def our_request(self, line: str, host: str) -> bool:
        return our_request(line, host)


LLAMACPP = LlamaServerAdapter()


def _get(url: str, api_key: str | None) -> tuple[int, str] | None:
    if not api_key:
        from spark_tui.engines.http import get_text

        return get_text(url, timeout=1.0)
    import httpx

    from spark_tui.engines.http import client

    try:
        answer = client().get(url, timeout=1.0, headers={"Authorization": f"Bearer {api_key}"})
    except httpx.HTTPError:
        return None
    return answer.status_code, answer.text


def slots_kv_usage(url: str, api_key: str | None) -> float | None:
    """KV use (0–1) from /slots (on by default in current builds; 501 with --no-slots, and off by default in old
    ones): the tokens the busy slots hold (`n_prompt_tokens` + `next_token[0].n_decoded`) over a slot's context.
    Exact for the unified cache every slot shares (llama-server's default, -np auto); with -np N and no -kvu each
    slot has its own share of the cache, and the figure is the busy slots' shares added up. None when /slots does
    not answer."""
    import json

    answer = _get(url + "/slots", api_key)
    if answer is None or answer[0] != 200:
        return None
    try:
        slots = json.loads(answer[1])
        used = 0.0
        n_ctx = max(int(s["n_ctx"]) for s in slots)
        for slot in slots:
            if slot.get("is_processing"):
                decoded = (slot.get("next_token") or [{}])[0].get("n_decoded", 0)
                used += (int(slot.get("n_prompt_tokens", 0)) + int(decoded)) / int(slot["n_ctx"])
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, ZeroDivisionError):
        return None
    return min(1.0, used) if n_ctx > 0 else None


# What llama.cpp prints at start-up (regexes not anchored: since 2026-05 lines may carry a time stamp and level).
_FIGURES = {
    "weights": re.compile(r"\bmodel buffer size =\s*([\d.]+) MiB|llm_load_tensors: +\S+ buffer size =\s*([\d.]+) MiB"),
    "kv": re.compile(r"\bKV buffer size =\s*([\d.]+) MiB"),
    "kv_self": re.compile(r"\bKV self size\s*=\s*([\d.]+) MiB"),
    "kv_cells": re.compile(r"\bsize =\s*[\d.]+ MiB \(\s*(\d+) cells"),
    "compute": re.compile(r"\bcompute buffer size =\s*([\d.]+) MiB"),
}
_VERSION = re.compile(r"\bbuild:? (\d+) \(|version: (\d+) \(|version: \S+ \(build (\d+),")
_STARTED = re.compile(r"\bmodel loaded\b|server is listening on|srv +\S+: listening on ")
_OOM = re.compile(r"cudaMalloc failed: out of memory|failed to allocate buffer for kv cache|failed to allocate "
                  r"compute (?:pp )?buffers|unable to allocate \S+ buffer|failed to allocate \S+ buffer of size|"
                  r"CUDA error: out of memory")
_NO_KERNEL = re.compile(r"CUDA error: no kernel image is available for execution on the device")
_FAILED = re.compile(r"exiting due to model loading error|failed to load model|CUDA error: ")


def startup_figures(lines: list[str]) -> dict[str, Any]:
    """The figures one launch's log printed (bytes; None where it printed none) and its outcome so far: "started",
    "oom", "no_kernel_image" (the build has no kernels for this GPU), "failed", or None (not yet). Weights, KV and
    compute are summed over devices and buffers (a CPU_Mapped model buffer is the part of the file kept in host
    memory; on a GB10 it is the same memory). KV cells: the largest cache (an SWA model has a small second one)."""
    found: dict[str, list[float]] = {key: [] for key in _FIGURES}
    version = None
    for line in lines:
        for key, pattern in _FIGURES.items():
            match = pattern.search(line)
            if match:
                found[key].append(float(next(g for g in match.groups() if g is not None)))
        if version is None and (match := _VERSION.search(line)):
            version = next(g for g in match.groups() if g is not None)

    def total(*keys: str) -> int | None:
        values = next((found[k] for k in keys if found[k]), [])
        return round(sum(values) * MIB) if values else None

    text = "\n".join(lines)
    outcome = None
    if _STARTED.search(text):
        outcome = "started"
    elif _OOM.search(text):
        outcome = "oom"
    elif _NO_KERNEL.search(text):
        outcome = "no_kernel_image"
    elif _FAILED.search(text):
        outcome = "failed"
    return {"outcome": outcome, "version": version, "weights_bytes": total("weights"),
            "kv_cache_bytes": total("kv", "kv_self"),
            "kv_cache_tokens": int(max(found["kv_cells"])) if found["kv_cells"] else None,
            "compute_bytes": total("compute")}


# llama-server's own request log: `srv  log_server_r: request: GET /health 127.0.0.1 200` (info, up to the
# builds that skip /health and /metrics) and `srv  log_server_r: done request: GET /slots 127.0.0.1 200` (trace,
# seen with -lv 4; /health, /metrics, /v1/models and /props are no longer logged at all).
_ACCESS = re.compile(r"\brequest: (?:GET|HEAD) (?P<path>/health|/v1/health|/metrics|/slots|/v1/models|/models|/props)"
                     r"(?:\?\S*)? (?P<client>\S+) \d{3}\b")
_LOOPBACK = re.compile(r"^(?:127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+|localhost)$")


def our_request(line: str, host: str) -> bool:
    """A request log line of spark-tui's own polling (health, metrics, slots) from this machine."""
    match = _ACCESS.search(line)
    if match is None:
        return False
    client = match.group("client").strip("[]")
    return bool(_LOOPBACK.match(client)) or client == host
