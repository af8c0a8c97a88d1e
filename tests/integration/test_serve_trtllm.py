"""TensorRT-LLM launched and watched like vLLM (issue 14): `serve --engine trtllm` runs the trtllm-serve stand-in
(tests/support/fake_trtllm_serve.py) locally or in the release image (through the docker stand-in), and `ps`,
`logs`, `bench` and `stop` work on it as on vLLM."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tests.integration.test_serve import free_port, ps, wait_state
from tests.support.stand_ins import OWNER, PS_KEYS, fake_docker, own_processes, stand_in

MODEL = "Qwen/Qwen3-8B"
IMAGE = "nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc13"


def leftover(tmp_path: Path) -> list:
    return own_processes(str(tmp_path), "fake_trtllm_serve.py")


def venv(tmp_path: Path, version: str) -> Path:
    """A venv with TensorRT-LLM `version` installed: its bin/trtllm-serve is the stand-in, and its site-packages has
    the package's dist-info (where spark-tui reads the version without importing it)."""
    exe = stand_in(tmp_path / "venv" / "bin" / "trtllm-serve", "fake_trtllm_serve.py")
    (tmp_path / "venv" / "lib" / "python3.12" / "site-packages" / f"tensorrt_llm-{version}.dist-info").mkdir(
        parents=True)
    return exe


@pytest.fixture
def trtllm(tmp_path, monkeypatch, hub):
    monkeypatch.setenv("SPARK_TUI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FAKE_TRTLLM_DELAY", "0.4")
    monkeypatch.setenv("FAKE_TRTLLM_TOKENS_PER_S", "50")
    monkeypatch.setenv(OWNER, str(tmp_path))
    yield venv(tmp_path, "1.3.0rc13")
    for process in leftover(tmp_path):
        process.kill()


@pytest.fixture
def docker(trtllm, tmp_path, monkeypatch):
    return fake_docker(tmp_path, monkeypatch, IMAGE)


def serve(cli, *args: str, env: dict | None = None):
    return cli("serve", *args, "--engine", "trtllm", "--hardware", "gb10", env=env)


def test_dry_run_prints_the_full_command_local_and_in_the_image(cli, trtllm, docker, tmp_path):
    r = serve(cli, MODEL, "--executable", str(trtllm), "--dry-run", "--port", "8123", "--name", "dry")
    assert r.code == 0, r.err
    options = tmp_path / "state" / "files" / "dry" / "llm-api-options.yml"
    # TRT_LLM_DISABLE_LOAD_WEIGHTS_IN_PARALLEL: rule trtllm-gb10-memory-oom (NVIDIA's DGX Spark playbook).
    assert r.out.strip() == (f"TRT_LLM_DISABLE_LOAD_WEIGHTS_IN_PARALLEL=1 {trtllm.resolve()} {MODEL} --host 127.0.0.1 "
                             "--port 8123 --max_batch_size 1024 "
                             "--max_seq_len 40960 --kv_cache_free_gpu_memory_fraction 0.8 "
                             f"--extra_llm_api_options {options}"), r.out
    # What the launch would write is shown, and nothing is written by a dry run.
    assert "enable_iter_perf_stats: true\nreturn_perf_metrics: true\n" in r.err and not options.exists()
    r = serve(cli, MODEL, "--runtime", "container", "--dry-run", "--port", "8123")
    assert r.code == 0, r.err
    assert r.out.startswith(f"{docker} run --rm --name spark-tui-NAME --gpus all")
    assert f" {IMAGE} trtllm-serve {MODEL} --host 0.0.0.0 --port 8123 " in r.out, r.out
    assert "-p 127.0.0.1:8123:8123" in r.out
    assert ps(cli) == []


def test_launch_ready_ps_logs_bench_stop(cli, trtllm, tmp_path, monkeypatch):
    received = tmp_path / "argv.json"
    monkeypatch.setenv("FAKE_TRTLLM_ARGV_FILE", str(received))
    port = free_port()
    r = serve(cli, MODEL, "--executable", str(trtllm), "--port", str(port), "--name", "trt", "--wait", "30")
    assert r.code == 0, (r.out, r.err)
    server = wait_state(cli, "trt", ("ready",))
    assert set(server) == PS_KEYS  # the same keys as a vLLM server's
    assert server["engine"] == "trtllm" and server["runtime"] == "local" and server["url"] == f"http://127.0.0.1:{port}"
    assert server["engine_version"] == "1.3.0rc13"  # from the dist-info beside trtllm-serve
    assert server["command"][1:] == json.loads(received.read_text())  # what the server got, word for word
    options = tmp_path / "state" / "files" / "trt" / "llm-api-options.yml"
    assert server["command"][server["command"].index("--extra_llm_api_options") + 1] == str(options)
    assert options.read_text() == "enable_iter_perf_stats: true\nreturn_perf_metrics: true\n"
    bench = cli("bench", "trt", "--concurrency", "2", "--requests", "4", "--max-tokens", "40", "--json")
    assert bench.code == 0, bench.err
    result = json.loads(bench.out)
    assert result["failed"] == 0 and 25 <= result["per_stream_tokens_per_s"] <= 52.5, result
    after = wait_state(cli, "trt", ("ready",))
    # Token counters from /prometheus/metrics (counted when each request finished), KV use and requests from its
    # gauges: the bench's 160 tokens in the last minute.
    assert after["generation_tokens_per_s"] > 0 and after["prompt_tokens_per_s"] > 0, after
    assert after["requests_running"] == 0 and after["kv_cache_usage"] == 0.0
    assert after["bench"]["per_stream_tokens_per_s"] == result["per_stream_tokens_per_s"]
    logs = cli("logs", "trt").out
    assert "[TensorRT-LLM] TensorRT-LLM version: 1.3.0rc13" in logs and "Application startup complete." in logs
    assert "paged KV cache (86720)" in logs
    assert cli("stop", "trt").code == 0
    assert wait_state(cli, "trt", ("stopped",))["exit_code"] is not None
    assert leftover(tmp_path) == []


def test_a_version_without_token_counters_says_none_not_zero(cli, trtllm, tmp_path):
    """The first Prometheus collector (PR #5785) had no token counters and no gauges: tokens/s are unknown (None),
    and requests and KV use come from the JSON iteration stats of /metrics while requests run."""
    from spark_tui.engines.trtllm import TRTLLM

    port = free_port()
    r = serve(cli, MODEL, "--executable", str(trtllm), "--port", str(port), "--name", "basic", "--wait", "30",
              env={"FAKE_TRTLLM_METRICS": "basic"})
    assert r.code == 0, r.err
    assert cli("bench", "basic", "--requests", "2", "--max-tokens", "8").code == 0
    server = wait_state(cli, "basic", ("ready",))
    assert server["generation_tokens_per_s"] is None and server["prompt_tokens_per_s"] is None, server
    url = f"http://127.0.0.1:{port}"
    streaming = threading.Event()

    def one_long_request() -> None:
        import httpx

        body = {"model": MODEL, "prompt": "hello " * 40, "max_tokens": 100, "stream": True}
        with httpx.stream("POST", url + "/v1/completions", json=body, timeout=30) as response:
            for _ in response.iter_lines():
                streaming.set()

    thread = threading.Thread(target=one_long_request)
    thread.start()
    try:
        assert streaming.wait(20)
        sample = TRTLLM.scrape(url, None)
        assert sample is not None and sample.requests_running == 1 and sample.requests_waiting == 0
        assert sample.kv_cache_usage is not None and sample.kv_cache_usage > 0
        assert sample.generation_tokens is None and sample.ttft_count >= 0
    finally:
        thread.join(30)
    assert cli("stop", "basic").code == 0
    assert leftover(tmp_path) == []


def test_gpt_oss_on_an_old_release_is_refused_then_its_crash_is_diagnosed(cli, tmp_path, monkeypatch, hub):
    monkeypatch.setenv("SPARK_TUI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FAKE_TRTLLM_DELAY", "0.2")
    monkeypatch.setenv(OWNER, str(tmp_path))
    exe = venv(tmp_path, "1.2.0rc0")  # the image of TensorRT-LLM #8474
    try:
        r = serve(cli, "openai/gpt-oss-20b", "--executable", str(exe), "--port", str(free_port()))
        assert r.code == 3 and "incompatible here; not launching" in r.err
        # Issue #6892's title gives the line.
        crash = "[TensorRT-LLM][ERROR] Assertion failed: The attention sinks is only supported on SM90"
        r = serve(cli, "openai/gpt-oss-20b", "--executable", str(exe), "--port", str(free_port()), "--name", "oss",
                  "--force", "--wait", "30", env={"FAKE_TRTLLM_CRASH": crash, "FAKE_TRTLLM_VERSION": "1.2.0rc0"})
        assert r.code == 3, (r.out, r.err)
        assert "[trtllm-sm12x-attention-sinks]" in r.out and "attention sinks is only supported" in r.out
        server = wait_state(cli, "oss", ("failed",))
        assert server["exit_code"] == 1 and server["diagnosis"][0]["rule"] == "trtllm-sm12x-attention-sinks"
        assert leftover(tmp_path) == []
    finally:
        for process in leftover(tmp_path):
            process.kill()


def test_out_of_memory_while_loading_fails_with_its_line(cli, trtllm, tmp_path):
    r = serve(cli, MODEL, "--executable", str(trtllm), "--port", str(free_port()), "--name", "oom", "--wait", "30",
              env={"FAKE_TRTLLM_FAIL_OOM": "1"})
    assert r.code == 3 and "failed (exit code 1)" in r.err, (r.out, r.err)
    server = wait_state(cli, "oom", ("failed",))
    assert server["progress"] == "ended during start-up (loading weights (15.27 GB))"
    from spark_tui.engines.trtllm import TRTLLM

    lines = cli("logs", "oom").out.splitlines()
    assert TRTLLM.startup_figures(lines)["outcome"] == "oom"
    assert leftover(tmp_path) == []


def test_api_key_is_refused_in_one_sentence(cli, trtllm):
    r = serve(cli, MODEL, "--executable", str(trtllm), "--api-key", "sk-x", "--dry-run")
    assert r.code == 3 and "trtllm-serve has no API key option, so --api-key cannot guard it." in r.err
    assert "Traceback" not in r.err and "sk-x" not in r.err


def test_container_launch_with_the_images_version_and_the_options_file_mounted(cli, docker, tmp_path):
    port = free_port()
    r = serve(cli, MODEL, "--runtime", "container", "--port", str(port), "--name", "boxed", "--wait", "30",
              env={"FAKE_DOCKER_TRTLLM_VERSION": "1.2.0rc6", "FAKE_TRTLLM_VERSION": "1.2.0rc6"})
    assert r.code == 0, (r.out, r.err)
    server = wait_state(cli, "boxed", ("ready",))
    assert server["engine"] == "trtllm" and server["runtime"] == "container"
    assert server["engine_version"] == "1.2.0rc6"  # TRT_LLM_VERSION of the image
    seen = json.loads((tmp_path / "docker" / "spark-tui-boxed.seen.json").read_text())
    options = tmp_path / "state" / "files" / "boxed"
    assert seen["argv"][:2] == ["trtllm-serve", MODEL]
    assert f"{options}:{options}:ro" in seen["mounts"]  # the server's own folder, read-only
    assert seen["argv"][seen["argv"].index("--extra_llm_api_options") + 1] == str(options / "llm-api-options.yml")
    assert cli("bench", "boxed", "--requests", "1", "--max-tokens", "4").code == 0
    assert cli("stop", "boxed").code == 0
    deadline = time.monotonic() + 10
    while leftover(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftover(tmp_path) == []


def test_an_image_without_the_variable_is_asked_once(docker, monkeypatch):
    from spark_tui.engines.runtime import EngineRuntime, version_of

    runtime = EngineRuntime("container", str(docker), IMAGE, engine="trtllm")
    monkeypatch.setenv("FAKE_TRTLLM_VERSION", "1.3.0rc5")
    assert version_of(runtime) == "1.3.0rc5"  # python3 -c "import tensorrt_llm; …" in the image, after its banner
