"""The llama-server adapter's pure parts: its command from a plan, reading an edited command back, and what it reads
from real public start-up logs (tests/fixtures/llamacpp-startup/records.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spark_tui.advisor.types import LaunchPlan
from spark_tui.engines.adapters import adapter_for
from spark_tui.engines.llamacpp import LLAMACPP, our_request, startup_figures
from spark_tui.errors import UsageError

MIB = 1024**2
RECORDS = {r["id"]: r for r in map(json.loads, (Path(__file__).resolve().parent.parent / "fixtures" /
                                                "llamacpp-startup" / "records.jsonl").read_text().splitlines())}
PLAN = LaunchPlan("llamacpp", ("llama-server", "--hf-repo", "unsloth/Qwen3-8B-GGUF", "--hf-file",
                               "Qwen3-8B-Q4_K_M.gguf", "--host", "127.0.0.1", "--port", "8000", "-ngl", "999"),
                  {}, model="unsloth/Qwen3-8B-GGUF", port=8000)


def lines(record: str) -> list[str]:
    return RECORDS[record]["quote"].splitlines()


def mib(value: float) -> int:
    return round(value * MIB)


@pytest.mark.parametrize(("record", "weights", "kv", "cells", "compute", "version"), [
    ("L14-001", 456.11, 448.0, 4096, 422.92 + 12.01, "5489"),  # mid-2025 format, a dense model
    ("L14-002", 1242.03 + 10949.33, 3072.0 + 18.0, 131072, None, "6699"),  # SWA: two caches
    ("L14-006", 1640.62 + 5434.38 + 13989.53, 1536.0 + 3584.0, None, 672.01, None),  # 2024 format, two GPUs
    ("L14-007", None, 144.0, None, 300.75 + 12.01, "4701"),  # early-2025 format
])
def test_figures_of_real_start_up_logs(record, weights, kv, cells, compute, version):
    figures = startup_figures(lines(record))
    printed = RECORDS[record]["printed"]
    assert figures["weights_bytes"] == (None if weights is None else mib(weights))
    assert figures["kv_cache_bytes"] == mib(kv) == mib(printed["kv_mib"])
    assert figures["kv_cache_tokens"] == cells
    if compute is not None:
        assert figures["compute_bytes"] == mib(compute) == mib(sum(printed["compute_mib"].values()))
    assert figures["version"] == version


def test_phases_and_outcomes():
    assert LLAMACPP.progress(lines("L14-001")) == "serving"
    assert startup_figures(lines("L14-001"))["outcome"] == "started"
    assert LLAMACPP.progress(lines("L14-005")) == "weights loaded"
    oom = [*lines("L14-001")[:12], "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 5760.00 MiB on device 0: "
           "cudaMalloc failed: out of memory", "llama_init_from_model: failed to initialize the context: failed to "
           "allocate buffer for kv cache"]
    assert LLAMACPP.progress(oom) == "out of memory (cudaMalloc failed)" and startup_figures(oom)["outcome"] == "oom"
    # Seen on a DGX Spark (ZengboJamesWang/Qwen3.5-35B-A3B-openclaw-dgx-spark#3): a build without sm_121 kernels.
    kernel = ["ggml_cuda_compute_forward: SCALE failed", "CUDA error: no kernel image is available for execution on "
              "the device", "  current device: 0, in function ggml_cuda_compute_forward at /opt/llama.cpp/ggml/src/"
              "ggml-cuda/ggml-cuda.cu:2761"]
    assert startup_figures(kernel)["outcome"] == "no_kernel_image"
    assert LLAMACPP.progress(kernel) == "CUDA error: no kernel image is available for execution on the device"
    assert startup_figures(["srv  llama_server: listening on http://127.0.0.1:8080"])["outcome"] == "started"
    assert startup_figures(["version: 0.2.0-dev (build 10573, commit d775b8967)"])["version"] == "10573"


def test_our_own_polling_is_left_out_of_the_shown_log():
    assert our_request("srv  log_server_r: request: GET /health 127.0.0.1 200", "127.0.0.1")  # b4747, info
    assert our_request("srv  log_server_r: done request: GET /slots 127.0.0.1 200", "127.0.0.1")  # trace, now
    assert not our_request("srv  log_server_r: done request: GET /slots 10.0.0.7 200", "127.0.0.1")
    assert not our_request("srv  log_server_r: done request: POST /v1/completions 127.0.0.1 200", "127.0.0.1")


def test_command_adds_metrics_and_verbosity_only_for_builds_that_hide_figures():
    assert LLAMACPP.command(PLAN, None, "n", [])[-1] == "--metrics"  # version unknown: no -lv
    from dataclasses import replace

    old = LLAMACPP.command(replace(PLAN, engine_version="9160"), None, "n", [])
    new = LLAMACPP.command(replace(PLAN, engine_version="9161"), None, "n", [])
    assert "-lv" not in old and new[-2:] == ["-lv", "4"]
    quiet = replace(PLAN, argv=(*PLAN.argv, "-lv", "2", "--metrics"), engine_version="10573")
    assert LLAMACPP.command(quiet, None, "n", []) == list(quiet.argv)  # the user's own choice stands
    assert "downloads it itself" in LLAMACPP.launch_notes(PLAN)[0]


def test_read_command_uses_llama_servers_own_syntax():
    plan = LLAMACPP.read_command(PLAN, "llama-server --hf-repo unsloth/Qwen3-8B-GGUF --port 8123 -c 8192")
    assert (plan.port, plan.host, plan.model) == (8123, "127.0.0.1", "unsloth/Qwen3-8B-GGUF")
    plan = LLAMACPP.read_command(PLAN, "/opt/llama.cpp/build/bin/llama-server -m /models/x.gguf --host 0.0.0.0 "
                                       "-a mine")
    assert (plan.port, plan.host, plan.model) == (8080, "0.0.0.0", "mine")  # llama-server's defaults
    for text, said in (("vllm serve x", "must start with llama-server"),
                       ("llama-server -m x.gguf --port=9000", "write '--port 9000'"),
                       ("llama-server --port 9000", "names no model"),
                       ("llama-server -m x.gguf --port", "--port needs a value"),
                       ("llama-server -m x.gguf --port nine", "must be a number"),
                       ("llama-server -m 'x.gguf", "Cannot read that command")):
        with pytest.raises(UsageError, match=said):
            LLAMACPP.read_command(PLAN, text)
    moved = LLAMACPP.with_port(PLAN, 9001)
    assert moved.port == 9001 and moved.argv[moved.argv.index("--port") + 1] == "9001"


def test_adapter_for_llamacpp():
    assert adapter_for("llamacpp") is LLAMACPP and LLAMACPP.api_key_env == "LLAMA_API_KEY"
