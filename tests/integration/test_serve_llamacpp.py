"""llama.cpp's llama-server launched and watched like vLLM (issue 14): the stand-in (tests/support/
fake_llama_server.py, written from llama.cpp's option table, endpoints, log lines and metric names) is run as the
`llama-server` executable or as the entrypoint of ghcr.io/ggml-org/llama.cpp images through the docker stand-in."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.integration.test_serve import free_port, ps, wait_state
from tests.support.gguf_files import qwen3_gguf
from tests.support.stand_ins import OWNER, PS_KEYS, fake_docker, own_processes, stand_in

REPO = "unsloth/Qwen3-8B-GGUF"  # a fixture repo: real GGUF headers, Q4_K_M and Q8_0 at their real sizes
TINY = "spark-test/Qwen3-Tiny-GGUF"
IMAGE = "ghcr.io/ggml-org/llama.cpp:server-cuda13"
GB10 = ("--engine", "llamacpp", "--hardware", "gb10")
# What `ps --json` says of every server (ServerStatus.to_json, as a vLLM server shows it).


def leftover(tmp_path: Path) -> list:
    return own_processes(str(tmp_path), "fake_llama_server.py")


@pytest.fixture
def llama(tmp_path, monkeypatch, hub):
    """A `llama-server` executable that runs the stand-in, and a private state dir."""
    exe = stand_in(tmp_path / "bin" / "llama-server", "fake_llama_server.py")
    monkeypatch.setenv("FAKE_LLAMA_DELAY", "0.6")
    monkeypatch.setenv("FAKE_LLAMA_TOKENS_PER_S", "50")
    monkeypatch.setenv("FAKE_LLAMA_ARGV_FILE", str(tmp_path / "argv.json"))
    monkeypatch.setenv(OWNER, str(tmp_path))
    yield exe
    for process in leftover(tmp_path):
        process.kill()


@pytest.fixture
def docker(tmp_path, monkeypatch, llama):
    return fake_docker(tmp_path, monkeypatch, IMAGE)


def argv_seen(tmp_path: Path) -> list[str]:
    return json.loads((tmp_path / "argv.json").read_text())


def pulled_tiny(cli, hub, tmp_path: Path) -> Path:
    """A small real GGUF (Qwen3-8B's header, tiny tensors) pulled into this test's HF cache."""
    hub.add_repo(TINY, {"README.md": b"# tiny\n", "Qwen3-Tiny-Q4_K_M.gguf": qwen3_gguf(tmp_path / "t.gguf",
                                                                                         tokens=200)})
    r = cli("pull", TINY)
    assert r.code == 0, r.err
    found = list((Path(os.environ["HF_HOME"]) / "hub").glob("models--spark-test--Qwen3-Tiny-GGUF/snapshots/*/*.gguf"))
    assert len(found) == 1
    return found[0]


def test_dry_run_prints_the_full_command_locally_and_in_the_container(cli, docker, llama, tmp_path):
    r = cli("serve", REPO, *GB10, "--dry-run", "--port", "8123", "--executable", str(llama))
    assert r.code == 0, r.err
    assert r.out.strip() == (f"{llama.resolve()} --hf-repo {REPO} --hf-file Qwen3-8B-Q8_0.gguf --host 127.0.0.1 "
                             "--port 8123 -ngl 999 -c 40960 --metrics -lv 4")
    assert "llama-server downloads it itself" in r.err  # not in the HF cache
    # No llama-server here: the container (the image's entrypoint is llama-server, so no program word after it).
    r = cli("serve", REPO, *GB10, "--dry-run", "--port", "8123", "--runtime", "container", "--name", "box")
    assert r.code == 0, r.err
    assert r.out.startswith(f"{docker} run --rm --name spark-tui-box --gpus all")
    assert f" -p 127.0.0.1:8123:8123 -v {os.environ['HF_HOME']}/hub:/root/.cache/huggingface/hub " in r.out
    assert r.out.strip().endswith(f" {IMAGE} --hf-repo {REPO} --hf-file Qwen3-8B-Q8_0.gguf --host 0.0.0.0 "
                                  "--port 8123 -ngl 999 -c 40960 --metrics -lv 4")
    assert ps(cli) == [] and leftover(tmp_path) == []


def test_launch_wait_ps_logs_bench_stop(cli, llama, tmp_path):
    port = free_port()
    r = cli("serve", REPO, *GB10, "--executable", str(llama), "--port", str(port), "--name", "gguf", "--wait", "20")
    assert r.code == 0, r.err
    assert f"gguf http://127.0.0.1:{port}" in r.out and "gguf: ready (serving)" in r.out
    # The build it reported (b10573 ≥ b9161) hides start-up figures below verbosity 4, so the launch asks for them.
    assert argv_seen(tmp_path)[-3:] == ["--metrics", "-lv", "4"]
    server = wait_state(cli, "gguf", ("ready",))
    assert set(server) == PS_KEYS and server["nodes"] == []  # one node: the same keys, an empty list
    assert (server["engine"], server["model"], server["runtime"], server["engine_version"]) == (
        "llamacpp", REPO, "local", "10573")
    assert server["requests_running"] == 0 and server["kv_cache_usage"] == 0.0  # /metrics and /slots answered
    table = cli("ps").out.splitlines()
    assert table[0].split()[:3] == ["NAME", "ENGINE", "STATE"]
    assert next(line for line in table if line.startswith("gguf ")).split()[1:3] == ["llamacpp", "ready"]
    bench = cli("bench", "gguf", "--concurrency", "2", "--requests", "4", "--max-tokens", "30", "--json")
    assert bench.code == 0, bench.err
    result = json.loads(bench.out)
    assert result["failed"] == 0 and 25 <= result["per_stream_tokens_per_s"] <= 52.5, result
    after = wait_state(cli, "gguf", ("ready",))
    # From llamacpp:tokens_predicted_total / prompt_tokens_total, counted by the server.
    assert after["generation_tokens_per_s"] > 0 and after["prompt_tokens_per_s"] > 0
    assert after["bench"]["per_stream_tokens_per_s"] == result["per_stream_tokens_per_s"]
    logs = cli("logs", "gguf").out
    assert "load_tensors:        CUDA0 model buffer size =  4455.35 MiB" in logs and "model loaded" in logs
    assert cli("stop", "gguf").code == 0
    assert wait_state(cli, "gguf", ("stopped",))["state"] == "stopped"
    assert leftover(tmp_path) == []


def test_api_key_reaches_the_server_only_through_its_environment(cli, llama, tmp_path):
    port = free_port()
    r = cli("serve", REPO, *GB10, "--executable", str(llama), "--port", str(port), "--name", "keyed",
            "--api-key", "sk-llama-key", "--wait", "20")
    assert r.code == 0, r.err
    assert "sk-llama-key" not in json.dumps(argv_seen(tmp_path))
    record = (Path(os.environ["SPARK_TUI_STATE_DIR"]) / "servers" / "keyed.json").read_text()
    assert "sk-llama-key" not in record
    engine = own_processes(str(tmp_path), "fake_llama_server.py")[0]
    assert engine.environ()["LLAMA_API_KEY"] == "sk-llama-key"
    import httpx

    url = f"http://127.0.0.1:{port}"
    assert httpx.get(url + "/metrics", timeout=5).status_code == 401  # the server is guarded...
    server = wait_state(cli, "keyed", ("ready",))
    assert server["requests_running"] == 0 and server["kv_cache_usage"] == 0.0  # ...and our scrape has the key
    bench = cli("bench", "keyed", "--requests", "2", "--max-tokens", "8", "--json")
    assert bench.code == 0 and json.loads(bench.out)["failed"] == 0
    assert cli("stop", "keyed").code == 0 and leftover(tmp_path) == []


def test_a_crash_is_diagnosed_by_its_rule(cli, llama, tmp_path):
    crash = "CUDA error: CUDA-capable device(s) is/are busy or unavailable"
    r = cli("serve", REPO, *GB10, "--executable", str(llama), "--port", str(free_port()), "--name", "busy",
            "--wait", "20", env={"FAKE_LLAMA_CRASH": crash})
    assert r.code == 3, (r.out, r.err)
    assert "[llamacpp-gb10-uma-memory-probe]" in r.out and "busy or unavailable" in r.out
    server = wait_state(cli, "busy", ("failed",))
    assert server["exit_code"] == 1 and server["diagnosis"][0]["rule"] == "llamacpp-gb10-uma-memory-probe"
    assert "CUDA error: CUDA-capable device(s) is/are busy or unavailable" in server["progress"]
    assert leftover(tmp_path) == []


def test_out_of_memory_fails_with_the_reason(cli, llama, tmp_path):
    r = cli("serve", REPO, *GB10, "--executable", str(llama), "--port", str(free_port()), "--name", "oom",
            "--wait", "20", env={"FAKE_LLAMA_OOM": "1"})
    assert r.code == 3 and "failed (exit code 1)" in r.err
    assert "oom: failed (ended during start-up (out of memory (cudaMalloc failed)))" in r.out
    assert "cudaMalloc failed: out of memory" in cli("logs", "oom").out
    assert leftover(tmp_path) == []


def test_a_hung_load_is_loading_until_stopped(cli, llama, tmp_path):
    r = cli("serve", REPO, *GB10, "--executable", str(llama), "--port", str(free_port()), "--name", "hung",
            env={"FAKE_LLAMA_HANG": "1"})
    assert r.code == 0, r.err
    server = wait_state(cli, "hung", ("loading",))
    time.sleep(1.0)  # past its loading time: /health still answers 503
    server = wait_state(cli, "hung", ("loading",))
    assert server["progress"] == "compute buffers reserved"
    assert cli("stop", "hung").code == 0 and leftover(tmp_path) == []


def test_a_pulled_gguf_runs_from_the_cache_locally_and_in_the_container(cli, hub, docker, llama, tmp_path):
    cached = pulled_tiny(cli, hub, tmp_path)
    r = cli("serve", TINY, *GB10, "--executable", str(llama), "--port", str(free_port()), "--name", "tiny",
            "--wait", "20")
    assert r.code == 0, r.err
    seen = argv_seen(tmp_path)
    assert seen[:2] == ["-m", str(cached)] and "--hf-repo" not in seen and "--hf-file" not in seen
    assert "downloads it itself" not in r.err
    assert cli("stop", "tiny").code == 0
    # In the container the file is named by its place in the mounted cache (its snapshot link resolves there).
    port = free_port()
    r = cli("serve", TINY, *GB10, "--runtime", "container", "--port", str(port), "--name", "boxed", "--wait", "20")
    assert r.code == 0, r.err
    inside = json.loads((tmp_path / "docker" / "spark-tui-boxed.seen.json").read_text())["argv"]
    relative = cached.relative_to(Path(os.environ["HF_HOME"]) / "hub")
    assert inside[:3] == ["llama-server", "-m", f"/root/.cache/huggingface/hub/{relative}"]
    server = wait_state(cli, "boxed", ("ready",))
    assert server["engine"] == "llamacpp" and server["runtime"] == "container"
    assert cli("stop", "boxed").code == 0
    deadline = time.monotonic() + 10
    while leftover(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftover(tmp_path) == []


def test_the_stand_in_refuses_what_llama_server_refuses(llama, tmp_path):
    import subprocess

    for words, said in ((["--port=8080"], "error: invalid argument: --port=8080"),
                        (["--served-model-name", "x"], "error: invalid argument: --served-model-name"),
                        (["-m"], "expected value for argument")):
        r = subprocess.run([str(llama), *words], capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and said in r.stderr
