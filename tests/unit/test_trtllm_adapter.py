"""trtllm-serve's adapter and launch plan: its command line read back, the options YAML by release, start-up figures
from real log lines, metrics that say None for what the version does not report, and the stand-in refusing what
the real click command refuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spark_tui.advisor.launch import trtllm_plan
from spark_tui.advisor.types import LaunchPlan, PlanOptions
from spark_tui.engines import plan_files
from spark_tui.engines.trtllm import TRTLLM, startup_figures
from spark_tui.errors import UsageError
from spark_tui.hub.facts import build_model_facts
from spark_tui.rules.evaluate import Finding
from tests.support import fixture_repos as fr

STAND_IN = Path(__file__).resolve().parent.parent / "support" / "fake_trtllm_serve.py"
# A DGX Spark start-up of TensorRT-LLM 1.1.0rc3 serving openai/gpt-oss-120b, verbatim (research notes §3).
REAL_LOG = """\
[TensorRT-LLM] TensorRT-LLM version: 1.1.0rc3
[12/20/2025-04:20:04] [TRT-LLM] [I] Using LLM with PyTorch backend
[12/20/2025-04:20:21] [TRT-LLM] [I] Use 63.32 GB for model weights.
Loading weights: 100%|██████████| 801/801 [00:46<00:00, 17.29it/s]
Model init total -- 49.14s
[12/20/2025-04:21:09] [TRT-LLM] [I] max_seq_len is not specified, using inferred value 131072
[TensorRT-LLM][INFO] Number of tokens per block: 32.
[TensorRT-LLM][INFO] [MemUsageChange] Allocated 0.56 GiB for max tokens in paged KV cache (8224).
[12/20/2025-04:21:50] [TRT-LLM] [I] Memory used after loading model weights (inside torch) in memory usage profiling: 63.52 GiB
[12/20/2025-04:21:51] [TRT-LLM] [I] Peak memory during memory usage profiling (torch + non-torch): 113.65 GiB, available KV cache memory when calculating max tokens: 5.95 GiB, fraction is set 0.8999999761581421, kv size is 73728. device total memory 119.70 GiB, , tmp kv_mem 0.56 GiB
[12/20/2025-04:21:51] [TRT-LLM] [W] Adjusted max_seq_len to 86720
[TensorRT-LLM][INFO] [MemUsageChange] Allocated 5.95 GiB for max tokens in paged KV cache (86720).
[12/20/2025-04:21:52] [TRT-LLM] [I] max_seq_len=86720, max_num_requests=64, max_num_tokens=8192, max_batch_size=64
INFO:     Started server process [41]
INFO:     Waiting for application startup.
INFO:     Application startup complete.
INFO:     Uvicorn running on http://0.0.0.0:8355 (Press CTRL+C to quit)""".splitlines()  # noqa: E501


def facts(config: dict):
    return build_model_facts("org/m", source="hub", revision="x", api={}, config=config, hf_quant_config=None,
                             files=[("model.safetensors", 10 * 1024**3)])


def finding(rule: str, severity: str = "warning") -> Finding:
    return Finding(rule, severity, "t", "d", "f", (), "open", None, {}, ())


def test_real_startup_lines_give_the_kv_pool_not_the_profiling_cache():
    figures = startup_figures(REAL_LOG)
    assert figures["outcome"] == "started" and figures["version"] == "1.1.0rc3"
    assert figures["kv_cache_tokens"] == 86720 and figures["kv_cache_bytes"] == int(5.95 * 1024**3)
    assert figures["weights_bytes"] == int(63.52 * 1024**3) and figures["max_model_len_fit"] == 86720
    assert TRTLLM.progress(REAL_LOG) == "serving"
    assert TRTLLM.progress(REAL_LOG[:8]) == "KV cache 8224 tokens"
    assert TRTLLM.progress(REAL_LOG[:3]) == "loading weights (63.32 GB)"
    assert startup_figures([*REAL_LOG[:4], "torch.OutOfMemoryError: CUDA out of memory."])["outcome"] == "oom"
    assert startup_figures(REAL_LOG[:4])["outcome"] is None


@pytest.mark.parametrize("text", ["trtllm-serve serve org/m --port 9001 --host 0.0.0.0",
                                  "trtllm-serve org/m --max_batch_size 8 --port=9001 --host=0.0.0.0"])
def test_read_command_takes_both_spellings(text):
    plan = LaunchPlan("trtllm", ("trtllm-serve", "x"), {}, model="x")
    read = TRTLLM.read_command(plan, text)
    assert (read.model, read.host, read.port) == ("org/m", "0.0.0.0", 9001)
    assert TRTLLM.read_command(plan, "trtllm-serve org/m").host == "localhost"  # trtllm-serve's default
    with pytest.raises(UsageError, match=r"trtllm-serve \[serve\] MODEL"):
        TRTLLM.read_command(plan, "trtllm-serve --port 9001 org/m")
    with pytest.raises(UsageError, match="must be a number"):
        TRTLLM.read_command(plan, "trtllm-serve org/m --port x")
    moved = TRTLLM.with_port(read, 9100)
    assert moved.port == 9100 and moved.argv.count("9001") == 0 and "--port=9001" not in moved.argv
    assert ("9100" in moved.argv) != ("--port=9100" in moved.argv)  # rewritten where it stood, in its spelling


def test_plan_by_release():
    model = facts(fr.config("Qwen__Qwen3-8B"))
    newest = trtllm_plan(model, PlanOptions(engine="trtllm", engine_version="1.3.0rc13"), None, [])
    assert "--backend" not in newest.argv  # PyTorch is the default from 1.0
    assert newest.files == {"llm-api-options.yml": "enable_iter_perf_stats: true\nreturn_perf_metrics: true\n"}
    assert newest.argv[newest.argv.index("--extra_llm_api_options") + 1] == "llm-api-options.yml"
    assert newest.argv[newest.argv.index("--kv_cache_free_gpu_memory_fraction") + 1] == "0.9"
    early = trtllm_plan(model, PlanOptions(engine="trtllm", engine_version="1.0.0"), None, [])
    assert early.files == {"llm-api-options.yml": "enable_iter_perf_stats: true\n"}  # no return_perf_metrics yet
    old = trtllm_plan(model, PlanOptions(engine="trtllm", engine_version="0.19.0"), None, [])
    assert old.argv[2:4] == ("--backend", "pytorch") and old.files == {} and "--extra_llm_api_options" not in old.argv
    unknown = trtllm_plan(model, PlanOptions(engine="trtllm"), None, [])
    assert unknown.files == newest.files and "--backend" not in unknown.argv
    moe = trtllm_plan(model, PlanOptions(engine="trtllm"), None, [finding("trtllm-sm12x-trtllmgen-moe")])
    assert moe.files["llm-api-options.yml"].endswith("moe_config:\n  backend: CUTLASS\n")
    assert any("trtllm-sm12x-trtllmgen-moe" in note for note in moe.notes)
    assert LaunchPlan.from_json(moe.to_json()) == moe  # the record keeps the files


def test_plan_files_are_written_in_the_servers_folder_only(tmp_path):
    plan = LaunchPlan("trtllm", ("trtllm-serve", "m", "--extra_llm_api_options", "llm-api-options.yml"), {},
                      files={"llm-api-options.yml": "a: 1\n"})
    placed = plan_files.write(tmp_path, "srv", plan)
    path = tmp_path / "files" / "srv" / "llm-api-options.yml"
    assert placed.argv[-1] == str(path) and path.read_text() == "a: 1\n"
    for hostile in ("../escape.yml", "/etc/x", ".hidden", "a/b"):
        with pytest.raises(UsageError):
            plan_files.write(tmp_path, "srv2", LaunchPlan("trtllm", ("x",), {}, files={hostile: "x"}))
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["llm-api-options.yml"]
    assert plan_files.write(tmp_path, "srv3", LaunchPlan("trtllm", ("x",), {})).argv == ("x",)
    assert not (tmp_path / "files" / "srv3").exists()


def test_our_prometheus_polling_is_left_out_of_the_log_view():
    assert TRTLLM.our_request('INFO:     127.0.0.1:5000 - "GET /prometheus/metrics HTTP/1.1" 200 OK', "127.0.0.1")
    assert TRTLLM.our_request('INFO:     127.0.0.1:5000 - "GET /health HTTP/1.1" 200 OK', "127.0.0.1")
    assert not TRTLLM.our_request('INFO:     10.0.0.9:5000 - "GET /prometheus/metrics HTTP/1.1" 200 OK', "127.0.0.1")
    assert not TRTLLM.our_request('INFO:     127.0.0.1:5000 - "POST /v1/completions HTTP/1.1" 200 OK', "127.0.0.1")


def test_nothing_answering_is_no_sample():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert TRTLLM.scrape(f"http://127.0.0.1:{port}", None) is None
    assert TRTLLM.ready(f"http://127.0.0.1:{port}", "m", None) is False


@pytest.mark.parametrize(("args", "message"), [
    (["serve", "m", "--max-batch-size", "8"], "No such option: --max-batch-size"),  # click keeps underscores
    (["m", "--backend", "cpp"], "Invalid value for '--backend'"),
    (["serve", "--port", "8000"], "Missing argument 'MODEL'"),
    (["m", "--port", "eighty"], "is not a valid integer"),
])
def test_the_stand_in_refuses_what_trtllm_serve_refuses(args, message):
    out = subprocess.run([sys.executable, str(STAND_IN), *args], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and message in out.stderr and "Usage: trtllm-serve serve" in out.stderr
