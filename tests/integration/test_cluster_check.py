"""`spark-tui cluster check` against a real sshd (tests/support/sshd.py) on 127.0.0.1: two node aliases reaching
the same server, each with its own remote environment (HF_HOME, the stand-in vLLM's version, NCCL variables)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.sshd import SshServer, free_port, sshd_fixture, sshd_path
from tests.support.stand_ins import stand_in

ROOT = Path(__file__).resolve().parents[2]
MODEL = "RedHatAI/Qwen3-8B-NVFP4"
COMMIT = "a" * 40

pytestmark = pytest.mark.skipif(sshd_path() is None,
                                reason="no sshd on this machine (apt-get install openssh-server; .ci/run does)")


sshd = pytest.fixture(scope="module")(sshd_fixture)  # one real sshd for the module


def put_model(hf_home: Path, shards: int = 2, missing_blob: int | None = None) -> None:
    """A model in the real HF cache layout: blobs, snapshot links into them, refs/main, a safetensors index."""
    repo = hf_home / "hub" / ("models--" + MODEL.replace("/", "--"))
    snapshot = repo / "snapshots" / COMMIT
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    names = [f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)]
    files = {"config.json": b'{"model_type": "qwen3"}',
             "model.safetensors.index.json": json.dumps({"weight_map": {f"layer.{i}": n for i, n in
                                                                       enumerate(names)}}).encode()}
    files.update({n: bytes(1000 + i) for i, n in enumerate(names)})
    for i, (name, data) in enumerate(files.items()):
        blob = repo / "blobs" / f"{i:040x}"
        if not (missing_blob is not None and name == names[missing_blob]):
            blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)


class Cluster:
    """One test's world: its HF homes, stand-in vLLM, ssh config and settings file."""

    def __init__(self, sshd: SshServer, folder: Path) -> None:
        self.sshd = sshd
        self.folder = folder
        self.vllm = stand_in(folder / "bin" / "vllm", "fake_vllm.py")
        self.ssh_config = folder / "ssh_config"
        self.config_dir = folder / "config"
        self.home = folder / "home"
        self.home.mkdir()
        self.env = {"a": self.node_env("a"), "b": self.node_env("b")}
        self.extra_hosts: list[str] = []
        self.settings = {"nodes": ["node-a", "node-b"], "interface": "lo", "vllm": str(self.vllm),
                         "connect_timeout": 5, "command_timeout": 30}
        self.overrides: dict[str, dict] = {}

    def node_env(self, name: str) -> dict[str, str]:
        return {"HF_HOME": str(self.folder / f"hf-{name}"), "FAKE_VLLM_VERSION": "0.28.0",
                "NCCL_SOCKET_IFNAME": "lo", "GLOO_SOCKET_IFNAME": "lo"}

    def write(self) -> None:
        blocks = [self.sshd.host_block("node-a", self.env["a"]), self.sshd.host_block("node-b", self.env["b"]),
                  *self.extra_hosts]
        self.ssh_config.write_text("\n".join(blocks))
        lines = ["[cluster]"]
        for key, value in self.settings.items():
            lines.append(f"{key} = {json.dumps(value)}")
        for host, table in self.overrides.items():
            lines.append(f'[cluster.node."{host}"]')
            lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
        self.config_dir.mkdir(exist_ok=True)
        (self.config_dir / "config.toml").write_text("\n".join(lines) + "\n")

    def run(self, *args: str, path_prefix: Path | None = None, timeout: float = 120,
            extra_env: dict[str, str] | None = None) -> Result:
        self.write()
        env = {**os.environ, **(extra_env or {}), "SPARK_TUI_CONFIG_DIR": str(self.config_dir),
               "SPARK_TUI_SSH_CONFIG": str(self.ssh_config),
               "HOME": str(self.home), "NO_COLOR": "1", "SPARK_TUI_STATE_DIR": str(self.folder / "state"),
               "SPARK_TUI_CACHE_DIR": str(self.folder / "cache")}
        if path_prefix:
            env["PATH"] = f"{path_prefix}:{env['PATH']}"
        proc = subprocess.run([sys.executable, "-m", "spark_tui", "cluster", "check", *args], capture_output=True,
                              text=True, env=env, timeout=timeout, cwd=ROOT)
        return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cluster(sshd: SshServer, tmp_path: Path) -> Cluster:
    world = Cluster(sshd, tmp_path)
    put_model(tmp_path / "hf-a")
    put_model(tmp_path / "hf-b")
    return world


def checks(data: dict, host: str) -> dict[str, dict]:
    node = next(n for n in data["nodes"] if n["host"] == host)
    return {c["name"]: c for c in node["checks"]}


def test_all_ok_json_contract(cluster: Cluster):
    result = cluster.run(MODEL, "--json")
    assert result.code == 0, result.out + result.err
    data = result.json()
    assert data["ok"] is True
    assert [n["host"] for n in data["nodes"]] == ["node-a", "node-b"]
    for node in data["nodes"]:
        assert set(node) == {"host", "ok", "checks"} and node["ok"] is True
        assert [c["name"] for c in node["checks"]] == ["reachable", "engine", "model", "interface", "memory",
                                                        "nccl_env"]
        for check in node["checks"]:
            assert set(check) == {"name", "ok", "message"} and check["ok"], check
    a = checks(data, "node-a")
    assert "0.28.0" in a["engine"]["message"]
    assert "127.0.0.1/8" in a["interface"]["message"]
    assert str(cluster.folder / "hf-a" / "hub") in a["model"]["message"]
    assert str(cluster.folder / "hf-b" / "hub") in checks(data, "node-b")["model"]["message"]
    assert "GiB available" in a["memory"]["message"]
    assert "NCCL_SOCKET_IFNAME=lo" in a["nccl_env"]["message"]


def test_text_output_one_line_per_check(cluster: Cluster):
    result = cluster.run()
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    assert lines[0] == "node-a (head)"
    assert sum(line.startswith("  ✓ ") for line in lines) == 10  # five checks per node without a model
    assert lines[-1] == "Ready: 2 nodes, head node-a."


def test_version_mismatch(cluster: Cluster):
    cluster.env["b"]["FAKE_VLLM_VERSION"] = "0.29.0"
    result = cluster.run("--json")
    assert result.code == 2, result.out + result.err
    data = result.json()
    assert data["ok"] is False
    assert checks(data, "node-a")["engine"]["ok"] is True
    engine = checks(data, "node-b")["engine"]
    assert engine["ok"] is False
    assert "0.29.0 here but 0.28.0 on node-a" in engine["message"]


def test_model_missing_on_one_node_offers_pull(cluster: Cluster):
    import shutil

    shutil.rmtree(cluster.folder / "hf-b")
    data = cluster.run(MODEL, "--json").json()
    assert checks(data, "node-a")["model"]["ok"] is True
    model = checks(data, "node-b")["model"]
    assert model["ok"] is False
    assert f"ssh -F {cluster.ssh_config} node-b spark-tui pull {MODEL}" in model["message"]
    assert data["ok"] is False


def test_unfinished_shard_is_missing(cluster: Cluster):
    import shutil

    shutil.rmtree(cluster.folder / "hf-b")
    put_model(cluster.folder / "hf-b", missing_blob=1)  # its link is there, its blob is not
    model = checks(cluster.run(MODEL, "--json").json(), "node-b")["model"]
    assert model["ok"] is False
    assert "lacks model-00002-of-00002.safetensors" in model["message"]


def test_interface_missing_on_one_node(cluster: Cluster):
    cluster.overrides["node-b"] = {"interface": "enp9s9"}
    cluster.env["b"].update(NCCL_SOCKET_IFNAME="enp9s9", GLOO_SOCKET_IFNAME="enp9s9")
    result = cluster.run("--json")
    assert result.code == 2
    data = result.json()
    assert checks(data, "node-a")["interface"]["ok"] is True
    interface = checks(data, "node-b")["interface"]
    assert interface["ok"] is False and "there is no interface enp9s9 on node-b" in interface["message"]
    assert checks(data, "node-b")["nccl_env"]["ok"] is True


def test_nccl_variables_that_miss_the_interface(cluster: Cluster):
    cluster.env["b"]["NCCL_SOCKET_IFNAME"] = "eth"
    del cluster.env["b"]["GLOO_SOCKET_IFNAME"]
    env = checks(cluster.run("--json").json(), "node-b")["nccl_env"]
    assert env["ok"] is False
    assert "NCCL_SOCKET_IFNAME=eth does not select lo and GLOO_SOCKET_IFNAME is not set" in env["message"]
    assert "NCCL_SOCKET_IFNAME=lo and GLOO_SOCKET_IFNAME=lo" in env["message"]


def test_missing_vllm_on_one_node(cluster: Cluster):
    cluster.overrides["node-b"] = {"vllm": str(cluster.folder / "nowhere" / "vllm")}
    engine = checks(cluster.run("--json").json(), "node-b")["engine"]
    assert engine["ok"] is False and "there is no vLLM at" in engine["message"]


def test_unreachable_node_fails_alone_and_fast(cluster: Cluster):
    closed = free_port()
    cluster.extra_hosts.append(cluster.sshd.host_block("node-down", port=closed))
    cluster.settings["nodes"] = ["node-a", "node-down"]
    result = cluster.run("--json", timeout=60)
    assert result.code == 2
    data = result.json()
    down = next(n for n in data["nodes"] if n["host"] == "node-down")
    assert down["ok"] is False and [c["name"] for c in down["checks"]] == ["reachable"]
    assert "refused the connection" in down["checks"][0]["message"]
    assert next(n for n in data["nodes"] if n["host"] == "node-a")["ok"] is True


def test_a_silent_server_hits_the_deadline(cluster: Cluster):
    """A port that accepts and never speaks SSH: the node fails with a sentence; nothing waits for ever."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        cluster.extra_hosts.append(cluster.sshd.host_block("node-silent", port=listener.getsockname()[1]))
        cluster.settings.update(nodes=["node-a", "node-silent"], connect_timeout=2, command_timeout=3)
        result = cluster.run("--json", timeout=60)
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()
    assert result.code == 2
    silent = checks(result.json(), "node-silent")
    assert silent["reachable"]["ok"] is False
    assert "node-silent" in silent["reachable"]["message"]


def askpass_trap(cluster: Cluster) -> tuple[dict[str, str], Path]:
    """An SSH_ASKPASS program ssh is forced to use for any prompt (SSH_ASKPASS_REQUIRE=force, OpenSSH ≥ 8.4): it
    records that it was asked and answers "no". BatchMode must keep ssh from ever running it."""
    asked = cluster.folder / "askpass-was-asked"
    trap = cluster.folder / "askpass"
    trap.write_text(f"#!/bin/sh\necho \"$1\" >> {asked}\necho no\n")
    trap.chmod(0o755)
    return {"SSH_ASKPASS": str(trap), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}, asked


def test_unknown_host_key_never_prompts(cluster: Cluster):
    empty = cluster.folder / "empty_known_hosts"
    empty.write_text("")
    cluster.extra_hosts.append(cluster.sshd.host_block("node-new", known_hosts=empty))
    cluster.settings["nodes"] = ["node-a", "node-new"]
    env, asked = askpass_trap(cluster)
    reach = checks(cluster.run("--json", timeout=60, extra_env=env).json(), "node-new")["reachable"]
    assert reach["ok"] is False
    assert "host key is not known" in reach["message"] and "ssh -F" in reach["message"]
    assert not asked.exists(), asked.read_text()


def test_password_login_never_prompts(cluster: Cluster):
    from tests.support.sshd import _keygen

    stranger = cluster.folder / "id_stranger"
    _keygen(stranger)
    cluster.extra_hosts.append(cluster.sshd.host_block("node-pw", identity=stranger))
    cluster.settings["nodes"] = ["node-a", "node-pw"]
    env, asked = askpass_trap(cluster)
    reach = checks(cluster.run("--json", timeout=60, extra_env=env).json(), "node-pw")["reachable"]
    assert reach["ok"] is False
    assert "refused the login without a password" in reach["message"]
    assert "ssh-copy-id node-pw" in reach["message"]
    assert not asked.exists(), asked.read_text()


def test_a_hung_engine_is_ended_on_the_node(cluster: Cluster):
    """`vllm --version` that never returns: the node's own `timeout` ends it, the check says so."""
    pid_file = cluster.folder / "hung.pid"
    hung = cluster.folder / "bin" / "vllm-hung"
    hung.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 600\n")
    hung.chmod(0o755)
    cluster.overrides["node-b"] = {"vllm": str(hung)}
    cluster.settings["command_timeout"] = 2
    try:
        result = cluster.run("--json", timeout=60)
        engine = checks(result.json(), "node-b")["engine"]
        assert engine["ok"] is False and "gave no answer within" in engine["message"]
        pid = int(pid_file.read_text())
        assert not _alive(pid), "the hung command outlived the check"
    finally:
        if pid_file.exists() and _alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), 9)


def _alive(pid: int) -> bool:
    import time

    for _ in range(100):  # timeout -k: TERM, then KILL 5 s later at most; reaped by the sshd session
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        if Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return False
        time.sleep(0.1)
    return True


HOSTILE = [
    ({"nodes": ["-oProxyCommand=touch {marker}", "node-b"]}, "cluster.nodes[0]"),
    ({"nodes": ["node-a", "node b"]}, "cluster.nodes[1]"),
    ({"nodes": ["node-a", "b;touch {marker}"]}, "cluster.nodes[1]"),
    ({"interface": "lo;touch {marker}"}, "cluster.interface"),
    ({"interface": "-lo"}, "cluster.interface"),
    ({"user": "-oProxyCommand=touch {marker}"}, "cluster.user"),
    ({"vllm": "vllm --x $(touch {marker})"}, "cluster.vllm"),
    ({"runtime": "container", "image": "img $(touch {marker})"}, "cluster.image"),
]


@pytest.mark.parametrize(("change", "key"), HOSTILE, ids=[k for _, k in HOSTILE])
def test_hostile_values_are_refused_before_any_ssh(cluster: Cluster, change: dict, key: str):
    marker = cluster.folder / "ran"
    spy = cluster.folder / "spy"
    stand = spy / "ssh"
    spy.mkdir()
    stand.write_text(f"#!/bin/sh\ntouch {cluster.folder / 'ssh-was-run'}\nexit 255\n")
    stand.chmod(0o755)
    cluster.settings.update({k: (json.loads(json.dumps(v).replace("{marker}", str(marker)))) for k, v in
                             change.items()})
    result = cluster.run("--json", path_prefix=spy)
    assert result.code == 3, result.out + result.err
    assert key in result.err and "Traceback" not in result.err
    assert len([line for line in result.err.splitlines() if line.startswith("spark-tui:")]) == 1
    assert result.json()["error"]["kind"] == "usage" and result.json()["ok"] is False
    assert not (cluster.folder / "ssh-was-run").exists()
    assert not marker.exists()


def test_no_cluster_table_says_so(cluster: Cluster):
    cluster.config_dir.mkdir()
    (cluster.config_dir / "config.toml").write_text("[serve]\nruntime = \"local\"\n")
    env = {**os.environ, "SPARK_TUI_CONFIG_DIR": str(cluster.config_dir), "HOME": str(cluster.home)}
    proc = subprocess.run([sys.executable, "-m", "spark_tui", "cluster", "check"], capture_output=True, text=True,
                          env=env, timeout=60, cwd=ROOT)
    assert proc.returncode == 3
    assert "No [cluster] in" in proc.stderr


def test_dry_run_prints_the_ssh_commands_and_runs_nothing(cluster: Cluster):
    spy = cluster.folder / "spy"
    spy.mkdir()
    (spy / "ssh").write_text(f"#!/bin/sh\ntouch {cluster.folder / 'ssh-was-run'}\nexit 255\n")
    (spy / "ssh").chmod(0o755)
    result = cluster.run(MODEL, "--dry-run", path_prefix=spy)
    assert result.code == 0, result.err
    starts = [line for line in result.out.splitlines() if line.startswith("ssh ")]
    assert len(starts) == 4  # the facts and the engine, per node
    assert starts[0].startswith(f"ssh -F {cluster.ssh_config} -o BatchMode=yes -o ConnectTimeout=5 ")
    assert "-- node-a 'sh -c " in starts[0] and "-- node-b 'sh -c " in starts[2]
    assert f"{cluster.vllm} --version" in result.out
    assert not (cluster.folder / "ssh-was-run").exists()
