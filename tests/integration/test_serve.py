"""Launch and watch, for real: the stand-in engine (tests/support/fake_vllm.py) is launched through the same code
path as vLLM (as the `vllm` executable), detached; a fresh process re-attaches, benches it, reads its metrics,
diagnoses a planted crash, and stops it with nothing left running."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.support.stand_ins import OWNER, PS_KEYS, own_processes, stand_in

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def fake_vllm(tmp_path, monkeypatch, hub):
    """A `vllm` executable that runs the stand-in, and a private state dir."""
    exe = stand_in(tmp_path / "bin" / "vllm", "fake_vllm.py")
    monkeypatch.setenv("SPARK_TUI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FAKE_VLLM_DELAY", "0.6")
    monkeypatch.setenv("FAKE_VLLM_TOKENS_PER_S", "50")
    monkeypatch.setenv(OWNER, str(tmp_path))
    yield exe
    for process in leftover(tmp_path):  # whatever a failing test left behind, so no process outlives the test
        process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ps(cli) -> list[dict]:
    r = cli("ps", "--json")
    assert r.code == 0, r.err
    servers = json.loads(r.out)
    assert all(set(s) == PS_KEYS for s in servers)  # every engine's servers have these keys (the other tests too)
    return servers


def wait_state(cli, name: str, states: tuple[str, ...], timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server = next((s for s in ps(cli) if s["name"] == name), None)
        if server is not None and server["state"] in states:
            return server
        time.sleep(0.3)
    raise AssertionError(f"{name} never reached {states}: {server}")


def leftover(tmp_path: Path) -> list[psutil.Process]:
    """This test's stand-in engines still running (never another test's: they carry its tmp dir)."""
    return own_processes(str(tmp_path))


def test_launch_detach_reattach_bench_stop(cli, fake_vllm, tmp_path):
    port = free_port()
    r = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--vllm", str(fake_vllm), "--port", str(port),
            "--name", "qwen8")
    assert r.code == 0, r.err
    assert r.out.strip() == f"qwen8 http://127.0.0.1:{port}"  # the launching process has exited already
    server = wait_state(cli, "qwen8", ("ready",))  # a fresh process re-attaches
    assert server["model"] == "RedHatAI/Qwen3-8B-NVFP4" and server["engine"] == "vllm"
    assert server["pid"] > 0 and server["url"] == f"http://127.0.0.1:{port}" and server["uptime_s"] > 0
    assert set(server) >= {"generation_tokens_per_s", "prompt_tokens_per_s", "requests_running",
                           "requests_waiting", "kv_cache_usage", "exit_code", "diagnosis"}
    bench = cli("bench", "qwen8", "--concurrency", "2", "--requests", "4", "--max-tokens", "40", "--json")
    assert bench.code == 0, bench.err
    result = json.loads(bench.out)
    assert result["requests"] == 4 and result["concurrency"] == 2 and result["failed"] == 0
    # The stand-in streams 50 tok/s at most; on a loaded machine it streams slower, never faster. The bound catches
    # a bench that miscounts (tokens per chunk, time per stream) without depending on this machine's speed.
    assert 25 <= result["per_stream_tokens_per_s"] <= 52.5, result
    assert result["output_tokens_per_s"] > 50 and set(result["ttft_ms"]) == {"p50", "p90", "p99"}
    assert result["bound_tokens_per_s"] and result["percent_of_bound"]
    after = wait_state(cli, "qwen8", ("ready",))
    assert after["generation_tokens_per_s"] > 0 and after["prompt_tokens_per_s"] > 0
    # The result stays with the server, for ps and the Servers screen.
    assert after["bench"]["per_stream_tokens_per_s"] == result["per_stream_tokens_per_s"]
    assert time.time() - after["bench"]["at"] < 60
    logs = cli("logs", "qwen8")
    assert "Application startup complete." in logs.out
    stopped = cli("stop", "qwen8")
    assert stopped.code == 0 and "stopped" in stopped.out
    assert wait_state(cli, "qwen8", ("stopped",))["exit_code"] is not None
    assert leftover(tmp_path) == []
    again = cli("stop", "qwen8")  # already gone: fine, not an error
    assert again.code == 0


def test_planted_crash_is_diagnosed_with_its_rule(cli, fake_vllm, tmp_path):
    crash = ("NotImplementedError: is_act_and_mul=False is supported only for unquantized, ModelOpt FP8, and "
             "ModelOpt NvFp4 checkpoints")
    r = cli("serve", "Firworks/NVIDIA-Nemotron-3-Nano-30B-A3B-nvfp4", "--hardware", "gb10", "--vllm",
            str(fake_vllm), "--port", str(free_port()), "--name", "nemo", "--force", "--wait", "20",
            env={"FAKE_VLLM_CRASH": crash})
    assert r.code == 3, (r.out, r.err)
    assert "[vllm-ct-nvfp4-moe-nongated]" in r.out and "is_act_and_mul=False" in r.out
    server = wait_state(cli, "nemo", ("failed",))
    assert server["exit_code"] == 1
    assert server["diagnosis"][0]["rule"] == "vllm-ct-nvfp4-moe-nongated"
    assert "is_act_and_mul=False" in server["diagnosis"][0]["line"]
    assert leftover(tmp_path) == []


def test_incompatible_is_refused_without_force(cli, fake_vllm):
    # judged for the vLLM that will run: 0.14 still refuses this checkpoint (vllm-ct-nvfp4-moe-nongated)
    r = cli("serve", "Firworks/NVIDIA-Nemotron-3-Nano-30B-A3B-nvfp4", "--hardware", "gb10", "--vllm",
            str(fake_vllm), "--port", str(free_port()), env={"FAKE_VLLM_VERSION": "0.14.0"})
    assert r.code == 3 and "incompatible here; not launching" in r.err and "--force" in r.err
    assert ps(cli) == []


def test_port_in_use_and_no_engine(cli, fake_vllm, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--vllm", str(fake_vllm), "--port",
                str(port))
        assert r.code == 3 and f"Port {port} on 127.0.0.1 is already in use" in r.err
    r = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", env={"PATH": "/usr/bin:/bin"})
    assert r.code == 3 and "No vLLM found" in r.err and "Traceback" not in r.err
    r = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--vllm", str(tmp_path / "nope"))
    assert r.code == 3 and "is not an executable vLLM" in r.err


def test_dry_run_prints_the_command(cli, fake_vllm):
    r = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--dry-run", "--port", "8123")
    assert r.code == 0 and r.out.startswith("vllm serve RedHatAI/Qwen3-8B-NVFP4 --host 127.0.0.1 --port 8123")
    assert ps(cli) == []


def test_killed_from_outside_and_engine_that_exits_at_once(cli, fake_vllm, tmp_path):
    cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--vllm", str(fake_vllm), "--port",
        str(free_port()), "--name", "victim")
    server = wait_state(cli, "victim", ("ready",))
    os.killpg(server["pid"], signal.SIGKILL)
    dead = wait_state(cli, "victim", ("failed",))
    assert dead["state"] == "failed"
    # An engine that rejects its flags and exits straight away.
    bad = tmp_path / "bin" / "vllm-bad"
    bad.write_text("#!/bin/sh\necho 'error: unrecognized arguments: --bogus' >&2\nexit 2\n")
    bad.chmod(0o755)
    r = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--vllm", str(bad), "--port",
            str(free_port()), "--name", "bad", "--wait", "10")
    assert r.code == 3 and "failed (exit code 2)" in r.err
    assert "unrecognized arguments" in cli("logs", "bad").out
    assert leftover(tmp_path) == []


def test_damaged_state_keeps_every_other_server(cli, fake_vllm, tmp_path):
    for name in ("keep", "hurt"):
        cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--vllm", str(fake_vllm), "--port",
            str(free_port()), "--name", name)
    wait_state(cli, "keep", ("ready",))
    folder = Path(os.environ["SPARK_TUI_STATE_DIR"]) / "servers"
    keep = json.loads((folder / "keep.json").read_text())
    keep["unknown_future_field"] = 1  # a newer version's record: still readable
    (folder / "keep.json").write_text(json.dumps(keep))
    wait_state(cli, "hurt", ("ready",))
    hurt_pid = json.loads((folder / "hurt.json").read_text())["pid"]
    (folder / "hurt.json").write_text("{not json")
    # Listed as damaged (never hidden: its server still runs), its pid found from its processes.
    assert [(s["name"], s["state"], s["pid"]) for s in ps(cli)] == [("hurt", "damaged", hurt_pid),
                                                                    ("keep", "ready", keep["pid"])]
    assert cli("stop", "keep").code == 0
    assert cli("stop", "hurt").code == 0  # the damaged record's server: stopped all the same
    assert list(folder.glob("hurt.damaged-*"))  # its record set aside for the user, not deleted
    assert [s["name"] for s in ps(cli)] == ["keep"]
    deadline = time.monotonic() + 10
    while leftover(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftover(tmp_path) == []


def test_two_launches_at_once_are_both_recorded(cli, fake_vllm, tmp_path):
    import concurrent.futures

    ports = [free_port(), free_port()]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda i: cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--vllm",
                                               str(fake_vllm), "--port", str(ports[i]), "--name", f"twin{i}"),
                                [0, 1]))
    assert all(r.code == 0 for r in results), [r.err for r in results]
    assert sorted(s["name"] for s in ps(cli)) == ["twin0", "twin1"]
    for name in ("twin0", "twin1"):
        wait_state(cli, name, ("ready",))
        assert cli("stop", name).code == 0
    assert leftover(tmp_path) == []


def test_serve_advises_for_the_version_of_the_vllm_it_runs(cli, fake_vllm, tmp_path):
    # The stand-in says it is vLLM 0.12.0: the plan must use that era's defaults (utilization 0.9, not 0.92).
    r = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "h100", "--vllm", str(fake_vllm), "--port",
            str(free_port()), "--name", "old", "--wait", "20", env={"FAKE_VLLM_VERSION": "0.12.0"})
    assert r.code == 0, r.err
    log = cli("logs", "old").out
    assert "--gpu-memory-utilization 0.9 " in log
    assert cli("stop", "old").code == 0
    assert leftover(tmp_path) == []


def test_ps_also_shows_a_vllm_it_did_not_start_and_stop_leaves_it_alone(cli, tmp_path, monkeypatch, hub):
    import subprocess

    monkeypatch.setenv("SPARK_TUI_STATE_DIR", str(tmp_path / "state"))
    # Started by hand, as a user would: a `vllm` console script (here the stand-in) run directly.
    exe = tmp_path / "venv-bin" / "vllm"
    exe.parent.mkdir()
    exe.write_text(f"#!{sys.executable}\n" + (ROOT / "tests/support/fake_vllm.py").read_text())
    exe.chmod(0o755)
    port = free_port()
    env = {**os.environ, "FAKE_VLLM_DELAY": "0.2"}
    process = subprocess.Popen([str(exe), "serve", "Qwen/Qwen3-8B", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        server = wait_state(cli, f"external-{port}", ("ready",))
        assert server["external"] is True and server["model"] == "Qwen/Qwen3-8B" and server["pid"] == process.pid
        assert server["url"] == f"http://127.0.0.1:{port}" and server["log"] is None
        r = cli("stop", f"external-{port}")
        assert r.code == 3 and "was not started by spark-tui" in r.err and f"kill {process.pid}" in r.err
        assert process.poll() is None
    finally:
        process.kill()
        process.wait()


def test_model_not_cached_and_no_network_is_one_sentence(cli, fake_vllm):
    r = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--vllm", str(fake_vllm),
            env={"HF_ENDPOINT": f"http://127.0.0.1:{free_port()}"})
    assert r.code == 3 and "Cannot reach" in r.err and "Traceback" not in r.err
    assert ps(cli) == []  # nothing launched


def test_api_key_reaches_vllm_by_environment_only_and_our_own_requests_use_it(cli, fake_vllm, tmp_path):
    import httpx

    port = free_port()
    key = "sk-test-not-for-logs"
    r = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--vllm", str(fake_vllm), "--port", str(port),
            "--name", "keyed", "--api-key", key, "--wait", "20")
    assert r.code == 0, r.err  # ready: our health check passed vLLM's guard on /v1/models
    assert httpx.get(f"http://127.0.0.1:{port}/v1/models").status_code == 401  # the server does require it
    bench = cli("bench", "keyed", "--requests", "2", "--max-tokens", "8", "--json")
    assert bench.code == 0 and json.loads(bench.out)["failed"] == 0, bench.out
    state = tmp_path / "state"
    for path in [*state.glob("servers/*.json"), *state.glob("logs/*.log")]:
        assert key not in path.read_text(), path  # never in the record or the log
    assert key not in cli("ps", "--json").out
    secret = state / "secrets" / "keyed.key"
    assert secret.read_text() == key and secret.stat().st_mode & 0o077 == 0
    dry = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--dry-run", "--api-key", key)
    assert dry.code == 0 and "VLLM_API_KEY='***' " in dry.out and key not in dry.out
    assert cli("stop", "keyed").code == 0
    assert leftover(tmp_path) == []


def test_ps_json_says_what_the_engine_received_and_the_plan_it_came_from(cli, fake_vllm, tmp_path, monkeypatch):
    received = tmp_path / "argv.json"
    monkeypatch.setenv("FAKE_VLLM_ARGV_FILE", str(received))
    port = free_port()
    r = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--vllm", str(fake_vllm), "--port", str(port),
            "--name", "planned", "--enforce-eager", "--api-key", "sk-not-in-argv", "--wait", "20")
    assert r.code == 0, r.err
    server = next(s for s in ps(cli) if s["name"] == "planned")
    assert server["command"][1:] == json.loads(received.read_text())  # what the engine got, word for word
    assert server["command"][0] == str(fake_vllm.resolve()) and "sk-not-in-argv" not in json.dumps(server)
    assert server["port"] == port and server["url"] == f"http://127.0.0.1:{port}"
    assert server["engine_version"] == "0.28.0" and server["runtime"] == "local"  # `vllm --version` of the stand-in
    check = json.loads(cli("check", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--engine-version", "0.28.0",
                           "--enforce-eager", "--json").out)
    assert server["bound_tokens_per_s"] == round(check["performance"]["decode_tokens_per_s_bound"], 2)
    bench = json.loads(cli("bench", "planned", "--requests", "1", "--max-tokens", "4", "--json").out)
    assert bench["bound_tokens_per_s"] == check["performance"]["decode_tokens_per_s_bound"]  # the record's bound
    assert cli("stop", "planned").code == 0
    assert leftover(tmp_path) == []
