"""`serve MODEL --nodes N`, `ps`, `stop` across nodes, with real components: a real sshd on 127.0.0.1 (a high port,
generated keys; tests/support/sshd.py) reached through node aliases that each have their own state dir, the vLLM
stand-in doing vLLM's Ray-less rendezvous over TCP or joining a real two-node Ray cluster on loopback. Each test
owns its world: its folders, ports and processes (every process it starts carries FAKE_VLLM_OWNER=its folder, and
only those are looked at or killed; never `ray stop`)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support.sshd import SshServer, free_port, sshd_fixture, sshd_path
from tests.support.stand_ins import OWNER, stand_in

MODEL = "RedHatAI/Qwen3-8B-NVFP4"

pytestmark = pytest.mark.skipif(sshd_path() is None or shutil.which("setsid") is None,
                                reason="no sshd or setsid on this machine (apt-get install openssh-server)")


sshd = pytest.fixture(scope="module")(sshd_fixture)  # one real sshd for the module


def owned(owner: str) -> list[psutil.Process]:
    """Every live process this test started on any 'node' (the stand-ins, Ray's processes, their wrappers)."""
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.status() != psutil.STATUS_ZOMBIE and process.environ().get(OWNER) == owner:
                found.append(process)
    return found


def end_owned(owner: str) -> None:
    for process in owned(owner):
        with contextlib.suppress(psutil.Error):
            process.kill()


class World:
    def __init__(self, sshd: SshServer, folder: Path, cli) -> None:
        self.sshd, self.folder, self.cli = sshd, folder, cli
        self.owner = str(folder)
        self.vllm = stand_in(folder / "bin" / "vllm", "fake_vllm.py")
        ray = folder / "bin" / "ray"  # beside vllm, as in a venv with vLLM and Ray
        ray.write_text(f"#!/bin/sh\nexec {Path(sys.executable).parent / 'ray'} \"$@\"\n")
        ray.chmod(0o755)
        self.ssh_config = folder / "ssh_config"
        self.home = folder / "home"
        self.home.mkdir()
        self.port = free_port()
        self.down: set[str] = set()  # aliases pointing at a closed port
        self.settings: dict = {"nodes": ["node-a", "node-b"], "interface": "lo", "vllm": str(self.vllm),
                               "connect_timeout": 5, "command_timeout": 30, "master_port": free_port(),
                               "ray_port": free_port()}
        self.overrides: dict[str, dict] = {}

    def node_env(self, alias: str) -> dict[str, str]:
        return {"SPARK_TUI_STATE_DIR": str(self.folder / f"state-{alias}"), OWNER: self.owner,
                "FAKE_VLLM_RENDEZVOUS_S": "40", "FAKE_VLLM_DELAY": "0.4"}

    def write(self) -> None:
        closed = free_port()
        self.ssh_config.write_text("\n".join(
            self.sshd.host_block(alias, self.node_env(alias), port=closed if alias in self.down else None)
            for alias in ("node-a", "node-b")))
        lines = ["[cluster]", *(f"{k} = {json.dumps(v)}" for k, v in self.settings.items())]
        for host, table in self.overrides.items():
            lines.append(f'[cluster.node."{host}"]')
            lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
        config_dir = Path(os.environ["SPARK_TUI_CONFIG_DIR"])
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "config.toml").write_text("\n".join(lines) + "\n")

    def run(self, *args: str, timeout: float = 120):
        self.write()
        return self.cli(*args, env={"SPARK_TUI_SSH_CONFIG": str(self.ssh_config), "HOME": str(self.home),
                                    OWNER: self.owner}, timeout=timeout)

    def ps(self) -> dict:
        r = self.run("ps", "--json")
        assert r.code == 0, r.err
        return {s["name"]: s for s in json.loads(r.out)}

    def wait_state(self, name: str, state: str, seconds: float = 60) -> dict:
        deadline = time.monotonic() + seconds
        while True:
            server = self.ps()[name]
            if server["state"] == state or time.monotonic() > deadline:
                return server
            time.sleep(0.5)


@pytest.fixture
def world(sshd: SshServer, tmp_path: Path, cli) -> Iterator[World]:
    w = World(sshd, tmp_path, cli)
    yield w
    end_owned(w.owner)  # whatever a failed assertion left behind


def serve(world: World, *extra: str, name: str = "duo", timeout: float = 120):
    return world.run("serve", MODEL, "--hardware", "gb10", "--nodes", "2", "--port", str(world.port), "--name", name,
                     *extra, timeout=timeout)


def test_dry_run_prints_each_nodes_ssh_command(world: World):
    r = serve(world, "--dry-run")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "# on node-b (worker)" and lines[2] == "# on node-a (server)"
    assert lines[1].startswith(f"ssh -F {world.ssh_config} -o BatchMode=yes") and " -- node-b 'sh -c " in lines[1]
    assert "--headless" in lines[1] and "--node-rank 1" in lines[1] and "setsid" in lines[1]
    assert "--master-addr 127.0.0.1" in lines[3] and str(world.vllm) in lines[3]
    assert f"--master-port {world.settings['master_port']}" in lines[3]
    assert "VLLM_HOST_IP=127.0.0.1" in lines[3] and "NCCL_SOCKET_IFNAME=lo" in lines[3]
    assert owned(world.owner) == [] and world.ps() == {}

    world.settings["ray_start_args"] = ["--num-gpus=1"]
    ray = serve(world, "--dry-run", "--distributed", "ray")
    roles = [line for line in ray.out.splitlines() if line.startswith("# on")]
    assert roles == ["# on node-a (ray-head)", "# on node-b (ray-worker)", "# on node-a (server)"]
    assert f"--port={world.settings['ray_port']}" in ray.out and "--num-gpus=1" in ray.out
    assert f"RAY_ADDRESS=127.0.0.1:{world.settings['ray_port']}" in ray.out


def test_dry_run_without_cluster_uses_placeholders_and_a_launch_is_refused(world: World, cli):
    r = cli("serve", MODEL, "--hardware", "gb10", "--nodes", "2", "--dry-run")
    assert r.code == 0, r.err
    assert "# on node2 (worker)" in r.out and "NODE1_IP" in r.out and "placeholders" in r.err
    refused = cli("serve", MODEL, "--hardware", "gb10", "--nodes", "2")
    assert refused.code == 3 and "needs the nodes named in a [cluster] table" in refused.err
    assert "Traceback" not in refused.err


def test_rayless_launch_watch_worker_death_and_stop(world: World):
    r = serve(world, "--wait", "60")
    assert r.code == 0, r.out + r.err
    assert "duo: ready" in r.out

    server = world.ps()["duo"]
    assert server["state"] == "ready"
    assert [(n["host"], n["role"], n["state"]) for n in server["nodes"]] == [("node-b", "worker", "running"),
                                                                             ("node-a", "server", "running")]
    for node in server["nodes"]:
        assert node["memory_total_bytes"] > node["memory_available_bytes"] > 0
        assert "gpu_utilization" in node and node["pid"] > 0
    text = world.run("ps").out
    assert "node-b" in text and "worker" in text
    assert (world.folder / "state-node-b" / "nodes" / "duo" / "worker-0.log").is_file()

    workers = [p for p in owned(world.owner) if "--headless" in p.cmdline() and "fake_vllm.py" in " ".join(
        p.cmdline())]
    assert len(workers) == 1
    workers[0].send_signal(signal.SIGKILL)
    failed = world.wait_state("duo", "failed", 30)
    assert failed["state"] == "failed", failed
    rules = [d["rule"] for d in failed["diagnosis"]]
    assert "vllm-multinode-worker-died" in rules
    assert any("the worker on node-b exited (137)" in d["title"] for d in failed["diagnosis"])
    logs = world.run("logs", "duo")
    assert "Worker proc VllmWorker-1 died unexpectedly" in logs.out

    # A node that cannot be reached: one sentence, the record kept, and a later stop does the rest.
    world.down.add("node-a")
    unreachable = world.run("stop", "duo", timeout=60)
    assert unreachable.code != 0 and "node-a is unreachable" in unreachable.err
    assert "Traceback" not in unreachable.err and "duo" in world.ps()
    world.down.clear()
    stopped = world.run("stop", "duo", timeout=60)
    assert stopped.code == 0, stopped.err
    assert "duo: stopped" in stopped.out
    assert owned(world.owner) == []


def test_a_missing_node_is_said_and_nothing_is_left(world: World):
    world.down.add("node-b")
    r = serve(world, "--wait", "30")
    assert r.code == 3, r.out + r.err
    assert "node-b refused the connection" in r.err and r.err.count("\n") <= 2 and "Traceback" not in r.err
    assert owned(world.owner) == [] and world.ps() == {}


def test_stop_from_a_new_shell_ends_everything_on_every_node(world: World):
    r = serve(world)  # no --wait: the launching process is gone at once
    assert r.code == 0, r.err
    assert world.wait_state("duo", "ready", 60)["state"] == "ready"
    assert len(owned(world.owner)) >= 4  # two wrappers, two stand-ins
    stopped = world.run("stop", "duo", timeout=60)
    assert stopped.code == 0 and "stopped" in stopped.out, stopped.err
    assert owned(world.owner) == []
    assert world.ps()["duo"]["state"] == "stopped"


def _ray_works() -> str | None:
    ray = Path(sys.executable).parent / "ray"
    return None if ray.exists() else "Ray is not installed (pip install -e '.[test]' installs it)"


def test_ray_cluster_on_loopback_serves_and_stops(world: World):
    why = _ray_works()
    if why:
        pytest.skip(why)
    # Ray's unix sockets live under --temp-dir, and a socket path has at most 107 bytes: a short folder of our own.
    temp = Path(tempfile.mkdtemp(prefix="st-ray-", dir="/tmp"))
    try:
        world.settings["ray_start_args"] = ["--disable-usage-stats", "--num-gpus=1", "--num-cpus=1",
                                            f"--temp-dir={temp}"]
        for alias in ("node-a", "node-b"):
            world.overrides[alias] = {"ray_start_args": [
                f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
                f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
                f"--metrics-export-port={free_port()}", f"--runtime-env-agent-port={free_port()}"]}
        world.overrides["node-a"]["ray_start_args"].append("--include-dashboard=false")  # a head-only option
        r = serve(world, "--distributed", "ray", "--wait", "90", timeout=150)
        assert r.code == 0, r.out + r.err + _ray_log(world)
        server = world.ps()["duo"]
        assert [(n["host"], n["role"]) for n in server["nodes"]] == [("node-a", "ray-head"), ("node-b", "ray-worker"),
                                                                      ("node-a", "server")]
        assert all(n["state"] == "running" for n in server["nodes"])
        head_log = (world.folder / "state-node-a" / "nodes" / "duo" / "server-2.log").read_text()
        assert "placement group of 2 GPU(s) ready on 2 Ray node(s)" in head_log
        assert any("raylet" in " ".join(p.cmdline()) for p in owned(world.owner))
        stopped = world.run("stop", "duo", timeout=90)
        assert stopped.code == 0, stopped.err
        assert owned(world.owner) == []
    finally:
        end_owned(world.owner)
        shutil.rmtree(temp, ignore_errors=True)


def _ray_log(world: World) -> str:
    logs = sorted((world.folder / "state-node-a" / "nodes" / "duo").glob("*.log"))
    return "".join(p.read_text(errors="replace")[-2000:] for p in logs)
