"""Killed processes: a server's runner killed with SIGKILL, two launches racing for one port, a pull killed
mid-file. The engine never outlives `stop`, the loser of a race is refused before loading, and a killed pull
resumes to byte-identical files."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.faults.conftest import Sandbox, judge
from tests.faults.test_hub import MODEL, tiny  # noqa: F401  (the module-scoped repo fixture)
from tests.support.hub_emulator import HubEmulator
from tests.support.stand_ins import stand_in


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _ps(box: Sandbox) -> list[dict]:
    outcome = box.run("ps", "--json")
    assert outcome.code == 0, outcome.err
    return json.loads(outcome.out)


def _wait(box: Sandbox, name: str, states: tuple[str, ...], seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    server: dict | None = None
    while time.monotonic() < deadline:
        server = next((s for s in _ps(box) if s["name"] == name), None)
        if server and server["state"] in states:
            return server
        time.sleep(0.3)
    raise AssertionError(f"{name} never reached {states}: {server}")


@pytest.fixture
def served(sandbox: Sandbox) -> Iterator[Sandbox]:
    """The sandbox with a `vllm` stand-in; whatever a failing test started is ended by its process group."""
    sandbox.env["SPARK_TUI_VLLM"] = str(stand_in(sandbox.root / "bin" / "vllm", "fake_vllm.py"))
    sandbox.env["FAKE_VLLM_DELAY"] = "0.3"
    groups: list[int] = []
    sandbox.groups = groups  # type: ignore[attr-defined]
    yield sandbox
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)


def _serve(box: Sandbox, name: str, port: int) -> dict:
    outcome = box.run("serve", MODEL, "--hardware", "gb10", "--port", str(port), "--name", name)
    assert outcome.code == 0, outcome.err
    server = _wait(box, name, ("ready",))
    box.groups.append(os.getpgid(server["pid"]))  # type: ignore[attr-defined]
    return server


def test_stop_after_the_runner_was_killed(served: Sandbox) -> None:
    port = _free_port()
    server = _serve(served, "victim", port)
    os.kill(server["pid"], signal.SIGKILL)  # the runner dies; the engine in its group keeps listening
    time.sleep(0.5)
    assert _listening(port), "the stand-in should outlive its runner, like a real engine"
    listed = _ps(served)[0]
    assert listed["state"] not in ("stopped", "exited"), f"ps calls a listening server {listed['state']}"
    outcome = served.run("stop", "victim")
    judge(outcome, area="process", command="stop NAME", fault="runner killed with SIGKILL", codes=0,
          sentence=False, contains="stopped")
    assert not _listening(port), "stop said stopped while the engine still listens"


def test_stop_a_server_whose_record_is_damaged(served: Sandbox) -> None:
    port = _free_port()
    _serve(served, "damaged", port)
    record = served.state / "servers" / "damaged.json"
    record.write_text(record.read_text()[:60])  # truncated mid-write by a crash or a full disk
    listed = served.run("ps")
    judge(listed, area="process", command="ps", fault="record of a live server truncated", codes=0,
          sentence=False, contains="damaged")
    outcome = served.run("stop", "damaged")
    judge(outcome, area="process", command="stop NAME", fault="record of a live server truncated", codes=0,
          sentence=False)
    assert not _listening(port), "a damaged record orphaned its server"


def test_two_launches_race_for_one_port(served: Sandbox) -> None:
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("HF_", "SPARK_TUI_"))}, **served.env}
    argv = [sys.executable, "-m", "spark_tui", "serve", MODEL, "--hardware", "gb10", "--port", str(port)]
    procs = [subprocess.Popen([*argv, "--name", f"racer{i}"], cwd=served.cwd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    results = [(p.wait(60), *p.communicate()) for p in procs]
    for server in _ps(served):
        with contextlib.suppress(ProcessLookupError):
            served.groups.append(os.getpgid(server["pid"]))  # type: ignore[attr-defined]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 3], results
    loser = next(r for r in results if r[0] == 3)
    assert "Traceback" not in loser[2] and str(port) in loser[2], loser[2]
    # The loser was refused before it started anything: one server only.
    assert len([s for s in _ps(served) if s["state"] != "failed"]) == 1
    judge(served.run("stop", next(s["name"] for s in _ps(served))), area="process", command="serve ×2",
          fault="two launches on one port at once", codes=0, sentence=False)


def test_a_killed_pull_resumes_byte_identical(sandbox: Sandbox, hub_server: HubEmulator, tiny: str) -> None:  # noqa: F811
    hub_server.throttle(r"model\.safetensors$", 256 * 1024, times=1)  # slow enough to be killed mid-file
    sandbox.env["HF_ENDPOINT"] = hub_server.url  # straight to the emulator: the proxy would buffer the trickle
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("HF_", "SPARK_TUI_"))}, **sandbox.env}
    proc = subprocess.Popen([sys.executable, "-m", "spark_tui", "pull", tiny, "--json"], cwd=sandbox.cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    partial = sandbox.hf_home / "hub" / ".spark-tui-partial"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(p.stat().st_size > 0 for p in partial.rglob("*.part")):
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    outcome = sandbox.run("pull", tiny, "--json")
    judge(outcome, area="process", command="pull TINY", fault="previous pull killed with SIGKILL mid-file",
          codes=0, sentence=False)
    blobs = list((sandbox.hf_home / "hub" / "models--faults--tiny-model" / "snapshots").glob("*/model.safetensors"))
    assert blobs and blobs[0].read_bytes() == bytes(range(256)) * 4096
