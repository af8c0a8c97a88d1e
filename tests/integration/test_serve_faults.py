"""`serve / ps / logs / stop / bench` under faults (issue 9): hostile names, a runner killed with -9, damaged
records, two launches racing for one port, absurd arguments, a full disk. Each ends with one sentence and exit 3,
and each test ends the process groups it started (and only those)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from spark_tui.advisor.types import LaunchPlan
from spark_tui.engines import processes, validate
from spark_tui.engines import store as store_module
from spark_tui.engines import supervisor as supervisor_module
from spark_tui.engines.supervisor import Supervisor
from spark_tui.errors import SparkTuiError
from tests.integration.test_serve import free_port, ps, wait_state
from tests.support.stand_ins import stand_in

MODEL = "RedHatAI/Qwen3-8B-NVFP4"


@pytest.fixture
def groups() -> list[int]:
    """Process groups a test started (a server's pid is its group); whatever is left of them is ended at the end."""
    started: list[int] = []
    yield started
    for pgid in started:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


@pytest.fixture
def engine(tmp_path, monkeypatch, hub) -> Path:
    exe = stand_in(tmp_path / "bin" / "vllm", "fake_vllm.py")
    monkeypatch.setenv("SPARK_TUI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FAKE_VLLM_DELAY", "0.4")
    return exe



def plan(engine: Path, port: int) -> LaunchPlan:
    """A plan that runs the stand-in engine on `port` (what the advisor would build, minus the advice)."""
    return LaunchPlan("vllm", (str(engine), "serve", MODEL, "--port", str(port)), {}, model=MODEL, port=port)

def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def group_alive(pgid: int, grace: float = 5.0) -> bool:
    """Whether this one process group (a group the test started) still exists after `grace` seconds: asked of the
    kernel by group id alone, never by looking at other processes. The grace lets init reap what just ended."""
    deadline = time.monotonic() + grace
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.1)


def serve(cli, engine: Path, name: str, port: int, groups: list[int], *extra: str, env: dict | None = None):
    r = cli("serve", MODEL, "--hardware", "gb10", "--vllm", str(engine), "--port", str(port), "--name", name,
            *extra, env=env)
    if r.code == 0:
        record = json.loads((Path(os.environ["SPARK_TUI_STATE_DIR"]) / "servers" / f"{name}.json").read_text())
        groups.append(record["pid"])
    return r


def one_sentence(r) -> str:
    """The error output: `spark-tui: <sentence>` and at most a hint line; never a traceback."""
    assert r.code == 3, (r.code, r.out, r.err)
    assert "Traceback" not in r.err and "Traceback" not in r.out, r.err
    lines = [line for line in r.err.splitlines() if line.startswith("spark-tui: ")]
    assert len(lines) == 1, r.err
    return lines[0]


# --- 1. names become paths ---

@pytest.mark.parametrize("name", ["../escape", "a/b", "x" * 300, ".hidden", "", "a b"])
def test_hostile_server_names_are_refused_everywhere(cli, engine, tmp_path, groups, name):
    state = tmp_path / "state"
    r = serve(cli, engine, name, free_port(), groups)
    assert "server name" in one_sentence(r).lower()
    for command in (["stop", name], ["logs", name], ["bench", name]):
        assert "server name" in one_sentence(cli(*command)).lower(), command
    assert not (tmp_path / "escape.json").exists() and not (state / "escape.json").exists()
    assert not list(state.glob("servers/*.json"))


def test_a_record_naming_a_path_is_kept_under_its_own_file_name(cli, engine, tmp_path, groups):
    port = free_port()
    assert serve(cli, engine, "honest", port, groups).code == 0
    folder = tmp_path / "state" / "servers"
    record = json.loads((folder / "honest.json").read_text())
    (folder / "honest.json").write_text(json.dumps({**record, "name": "../../outside"}))
    assert [s["name"] for s in ps(cli)] == ["honest"]
    assert cli("stop", "honest").code == 0
    assert not (tmp_path / "outside.json").exists() and not (tmp_path / "state" / "outside.json").exists()
    assert not group_alive(groups[0])


# --- 2. kill -9 of the runner ---

def test_stop_ends_the_engine_after_its_runner_was_killed(cli, engine, groups):
    port = free_port()
    assert serve(cli, engine, "orphan", port, groups).code == 0
    runner = wait_state(cli, "orphan", ("ready",))["pid"]
    os.kill(runner, signal.SIGKILL)  # the runner only: its engine child lives on, still listening
    time.sleep(0.5)
    assert listening(port)
    assert wait_state(cli, "orphan", ("ready",))["state"] == "ready"  # not "failed" while the engine listens
    r = cli("stop", "orphan")
    assert r.code == 0 and "stopped" in r.out, (r.out, r.err)
    assert not listening(port)
    assert not group_alive(runner)


def test_stop_says_so_when_the_server_will_not_end(engine, tmp_path, groups, monkeypatch):
    supervisor = Supervisor(tmp_path / "state")
    port = free_port()
    record = supervisor.launch(plan(engine, port), "stubborn")
    groups.append(record.pid)
    supervisor.wait_ready(record, 20)
    monkeypatch.setattr(processes, "signal_group", lambda pgid, signum: None)  # signals that do nothing
    with pytest.raises(SparkTuiError) as caught:
        supervisor.stop("stubborn", timeout=0.5)
    assert "still running" in caught.value.message and str(record.pid) in caught.value.message
    assert not supervisor.records()[0].stopped  # not recorded as stopped: it is not
    monkeypatch.undo()
    assert supervisor.stop("stubborn").state == "stopped"
    assert not listening(port)


# --- 3. damaged records ---

@pytest.mark.parametrize("damage", ["truncated", "pid-abc"])
def test_a_damaged_record_still_lists_and_stops_its_server(cli, engine, tmp_path, groups, damage):
    port = free_port()
    assert serve(cli, engine, "hurt", port, groups).code == 0
    wait_state(cli, "hurt", ("ready",))
    path = tmp_path / "state" / "servers" / "hurt.json"
    text = path.read_text()
    if damage == "truncated":
        path.write_text(text[: len(text) // 2])
    else:
        path.write_text(json.dumps({**json.loads(text), "pid": "abc"}))
    servers = ps(cli)
    assert [(s["name"], s["state"]) for s in servers] == [("hurt", "damaged")]
    assert servers[0]["pid"] == groups[0]  # recovered from the running processes when the record lost it
    assert cli("ps").code == 0
    r = cli("stop", "hurt")
    assert r.code == 0 and "stopped" in r.out, (r.out, r.err)
    assert not listening(port) and not group_alive(groups[0])
    assert path.exists() or list(path.parent.glob("hurt.damaged-*"))  # the damaged file is kept for the user


def test_the_app_polls_a_damaged_record_without_a_traceback(engine, tmp_path):
    folder = tmp_path / "state" / "servers"
    folder.mkdir(parents=True)
    (folder / "broken.json").write_text(json.dumps({"name": "broken", "pid": "abc", "port": 8000}))
    supervisor = Supervisor(tmp_path / "state")
    [record] = supervisor.records()  # what the Servers screen polls
    status = supervisor.observe(record)
    assert status.state == "damaged" and record.port == 8000
    assert status.to_json()["pid"] is None


# --- 4. two serve on one port ---

def test_two_serves_on_one_port_at_once_one_is_refused_before_loading(cli, engine, tmp_path, groups):
    port = free_port()
    results: dict[str, object] = {}

    def launch(name: str) -> None:
        results[name] = serve(cli, engine, name, port, groups, env={"FAKE_VLLM_DELAY": "3"})

    threads = [threading.Thread(target=launch, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(r.code for r in results.values())  # type: ignore[attr-defined]
    assert codes == [0, 3], {n: (r.code, r.err) for n, r in results.items()}  # type: ignore[attr-defined]
    loser = next(r for r in results.values() if r.code == 3)  # type: ignore[attr-defined]
    assert f"Port {port}" in one_sentence(loser)
    assert len(ps(cli)) == 1 and len(groups) == 1


# --- 5. argument checks ---

@pytest.mark.parametrize("args, words", [
    (["serve", MODEL, "--port", "70000"], "between 1 and 65535"),
    (["serve", MODEL, "--port", "0"], "between 1 and 65535"),
    (["bench", "x", "-c", "0"], "--concurrency"),
    (["bench", "x", "-n", "0"], "--requests"),
    (["bench", "x", "--max-tokens", "0"], "--max-tokens"),
    (["logs", "x", "-n", "0"], "--lines"),
    (["logs", "x", "-n", "-3"], "--lines"),
])
def test_absurd_arguments_are_one_sentence(cli, engine, args, words):
    assert words in one_sentence(cli(*args))


def test_a_privileged_port_is_refused_unless_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SparkTuiError) as caught:
        validate.port(80)
    assert "privileged" in caught.value.message and "1024" in caught.value.message
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    validate.port(80)  # root may


# --- 6. the ps hint for failed servers ---

def test_ps_points_at_the_log_of_a_failed_server(cli, engine, tmp_path, groups):
    bad = tmp_path / "bin" / "vllm-bad"
    bad.write_text("#!/bin/sh\necho 'error: unrecognized arguments: --bogus' >&2\nexit 2\n")
    bad.chmod(0o755)
    r = serve(cli, bad, "bad", free_port(), groups, "--wait", "10")
    assert r.code == 3
    out = cli("ps").out
    assert "exit code 2" in out and "see spark-tui logs bad" in out, out


# --- 7. a full disk under the state folder ---

@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """The state folder on a tmpfs of 256 KiB (root only; skipped where mounting is not allowed)."""
    state = tmp_path / "state"
    state.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(state)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    monkeypatch.setenv("SPARK_TUI_STATE_DIR", str(state))
    yield state
    subprocess.run(["umount", "-l", str(state)], check=False)


def fill(folder: Path) -> None:
    with contextlib.suppress(OSError), open(folder / "filler", "wb", buffering=0) as fh:
        while True:  # until the disk is full
            fh.write(b"\0" * 4096)


def test_serve_on_a_full_disk_is_one_sentence_and_leaves_no_record(cli, engine, small_disk, groups):
    for folder in ("servers", "logs", "exits", "metrics"):
        (small_disk / folder).mkdir()
    fill(small_disk)
    r = serve(cli, engine, "full", free_port(), groups)
    assert "No space left" in one_sentence(r)
    assert not [p for p in (small_disk / "servers").iterdir()]  # no record, whole or half
    assert groups == []


def test_a_record_that_cannot_be_written_ends_the_server_it_started(engine, tmp_path, monkeypatch, groups):
    started: list[int] = []
    real_popen = subprocess.Popen

    def popen(*args, **kwargs):
        process = real_popen(*args, **kwargs)
        started.append(process.pid)
        groups.append(process.pid)
        return process

    def no_space(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(store_module, "write_json_atomic", no_space)
    supervisor = Supervisor(tmp_path / "state")
    port = free_port()
    with pytest.raises(SparkTuiError) as caught:
        supervisor.launch(plan(engine, port), "unrecorded")
    assert "No space left" in caught.value.message
    assert len(started) == 1 and not group_alive(started[0])
    assert not list((tmp_path / "state" / "servers").glob("*"))


def test_ps_and_bench_on_a_full_disk_show_their_result_then_one_sentence(cli, engine, small_disk, groups):
    assert serve(cli, engine, "bfull", free_port(), groups).code == 0
    wait_state(cli, "bfull", ("ready",))
    fill(small_disk)
    assert wait_state(cli, "bfull", ("ready",))  # ps keeps no metrics history now, and says nothing of it
    r = cli("bench", "bfull", "-n", "2", "-c", "1", "--max-tokens", "4")
    assert "TTFT" in r.out  # the measurement is shown, not lost
    assert "No space left" in one_sentence(r)
    (small_disk / "filler").unlink()
    assert cli("stop", "bfull").code == 0
    assert not group_alive(groups[0])


def test_a_default_name_from_a_long_model_id_is_a_valid_name(tmp_path):
    records: dict = {}
    name = supervisor_module._default_name("org/" + "Very-Long-Model-Name" * 10, 65535, records)
    assert validate.server_name(name) == name
