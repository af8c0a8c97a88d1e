"""The pure halves of a launch across nodes: what a node's answers mean (cluster/launch.py) and the state of a server
from its nodes' rows (engines/status.cluster_state)."""

from __future__ import annotations

import shlex

import pytest

from spark_tui.cluster import launch
from spark_tui.cluster.config import ClusterNode, parse_cluster
from spark_tui.cluster.launch import MARK, NodePart, NodeSample, start_script
from spark_tui.engines.records import ServerRecord
from spark_tui.engines.status import cluster_state
from spark_tui.errors import UsageError

NODE = ClusterNode("spark-b", None, "enp1s0f1np1", "local", "~/venvs/vllm/bin/vllm", None)


def record(stopped: bool = False) -> ServerRecord:
    return ServerRecord(name="duo", model="m", engine="vllm", argv=[], env={}, pid=0, port=8000, host="127.0.0.1",
                        log="", started_at=0.0, stopped=stopped, nodes=[])


def row(role: str, state: str, host: str = "spark-b", code: int | None = None) -> dict:
    reason = None if state == "running" else (f"node {host} is unreachable" if state == "unreachable"
                                              else f"the {role} on {host} exited ({code})")
    return {"host": host, "role": role, "state": state, "exit_code": code, "reason": reason}


def test_start_script_quotes_every_value_and_runs_detached_with_the_marker():
    script = start_script(NODE, "duo", 0, "worker", ("vllm", "serve", "org/m; rm -rf /", "--headless"),
                          {"VLLM_HOST_IP": "10.0.0.2", "X": "a b"}, "spark-tui:duo:abc")
    assert "\n" not in script
    assert "'org/m; rm -rf /'" in script and "'X=a b'" in script
    assert '"$HOME"/venvs/vllm/bin/vllm serve' in script  # the node's home, not ours
    assert "setsid sh -c" in script and "SPARK_TUI_SERVER=spark-tui:duo:abc; export SPARK_TUI_SERVER" in script
    shlex.split(script)  # one well-formed shell line
    with pytest.raises(ValueError):
        start_script(NODE, "duo", 0, "worker", ("vllm",), {"BAD NAME": "1"}, "m")
    with pytest.raises(ValueError):
        start_script(NODE, "../x", 0, "worker", ("vllm",), {}, "m")


def test_ray_runs_from_beside_vllm():
    script = start_script(NODE, "duo", 0, "ray-head", ("ray", "start", "--head"), {}, "m")
    assert '"$HOME"/venvs/vllm/bin/ray start --head' in script


def test_answers_are_read_strictly():
    assert launch.read_started(f"noise\n{MARK}started 12 12 /s/worker-0.log\n").pid == 12
    assert launch.read_started(f"{MARK}started x 12 /s\n") is None
    assert launch.read_started(f"{MARK}container {'a' * 64}\n").container == "a" * 64
    ip = '[{"ifname":"lo","addr_info":[{"family":"inet","local":"10.0.0.2","prefixlen":24}]}]'
    assert launch.read_address(f"{MARK}ip\n{ip}\n") == "10.0.0.2"
    assert launch.read_address(f"{MARK}ip\nDevice \"x\" does not exist.\n") is None
    assert launch.read_left(f"{MARK}left\n0\n{MARK}end\n") == 0 and launch.read_left("") is None


def test_a_sample_is_read_into_memory_gpu_and_parts():
    sample = NodeSample("spark-b")
    answer = [f"{MARK}reached", f"{MARK}meminfo", "MemTotal: 1000 kB", "MemAvailable: 600 kB", f"{MARK}gpu", "93",
              f"{MARK}part 0", "dead", "137", f"{MARK}part 1", "alive", f"{MARK}log", "line one", f"{MARK}marked", "3",
              f"{MARK}end"]
    launch.read_sample(sample, "\n".join(answer))
    assert (sample.mem_total, sample.mem_available) == (1000 * 1024, 600 * 1024)
    assert sample.gpu_utilization == pytest.approx(0.93)
    assert sample.parts == {0: (False, 137), 1: (True, None)}
    assert sample.marked == 3 and sample.log == ["line one"]


def test_a_damaged_part_never_becomes_an_ssh_option():
    good = {"host": "spark-b", "role": "worker", "index": 0, "marker": "spark-tui:duo:abc", "pid": 5, "pgid": 5}
    assert NodePart.from_json(good) is not None
    assert NodePart.from_json({**good, "host": "-oProxyCommand=x"}) is None
    assert NodePart.from_json({**good, "pid": "5"}) is None
    assert NodePart.from_json({**good, "marker": "a b"}) is None


def test_the_state_of_a_server_across_nodes():
    running = [row("worker", "running"), row("server", "running", "spark-a")]
    assert cluster_state(record(), running, True, None, "serving")[0] == "ready"
    assert cluster_state(record(), running, False, None, "loading weights")[:2] == ("loading", "loading weights")
    died = [row("worker", "exited", code=137), row("server", "running", "spark-a")]
    state, progress, reasons = cluster_state(record(), died, False, None, "serving")
    assert state == "failed" and reasons == ["the worker on spark-b exited (137)"] and progress == reasons[0]
    gone = [row("worker", "unreachable"), row("server", "exited", "spark-a", 1)]
    assert cluster_state(record(), gone, False, 1, "serving")[2][0] == "node spark-b is unreachable"
    assert cluster_state(record(stopped=True), [row("worker", "exited"), row("server", "exited", "spark-a")],
                         False, None, "serving")[0] == "stopped"
    assert cluster_state(record(stopped=True), running, False, None, "serving")[0] == "failed"
    clean = [row("worker", "exited", code=0), row("server", "exited", "spark-a", 0)]
    assert cluster_state(record(), clean, False, 0, "serving")[0] == "exited"


def test_cluster_ports_and_ray_options_are_validated():
    table = {"nodes": ["a", "b"], "interface": "lo", "master_port": 30000, "ray_start_args": ["--num-gpus=1"],
             "node": {"b": {"ray_start_args": ["--node-manager-port=40000"]}}}
    config = parse_cluster(table, "config.toml")
    assert config.master_port == 30000 and config.ray_port == 6379
    assert config.nodes[1].ray_start_args == ("--num-gpus=1", "--node-manager-port=40000")
    for bad in ({"master_port": 80}, {"ray_start_args": ["--temp-dir=/a b"]}, {"ray_start_args": "--x"},
                {"ray_start_args": ["-x"]}):
        with pytest.raises(UsageError):
            parse_cluster({**table, **bad}, "config.toml")
