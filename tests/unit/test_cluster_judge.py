"""What the nodes' answers mean: parsing the remote scripts' output and judging it (pure; the integration tests
run the same code against a real sshd)."""

from __future__ import annotations

import json

import pytest

from spark_tui.cluster import remote
from spark_tui.cluster.checks import judge, selects
from spark_tui.cluster.config import parse_cluster
from spark_tui.cluster.remote import MARK, NodeFacts, read_engine, read_facts

GIB = 1024**3
COMMIT = "b" * 40


def answer(env=None, ip=None, gpu="", files=True, memavail_kib=100 * 1024 * 1024) -> str:
    env = env if env is not None else {"NCCL_SOCKET_IFNAME": "enp1s0f1np1", "GLOO_SOCKET_IFNAME": "enp1s0f1np1"}
    ip = ip if ip is not None else json.dumps([{"ifname": "enp1s0f1np1", "flags": ["UP", "LOWER_UP"],
                                                "operstate": "UP", "addr_info": [
                                                    {"family": "inet", "local": "192.168.100.10", "prefixlen": 24}]}])
    snap = f"/home/n/.cache/huggingface/hub/models--o--m/snapshots/{COMMIT}/"
    lines = [MARK + "reached", MARK + "meminfo", "MemTotal:       125000000 kB", f"MemAvailable: {memavail_kib} kB",
             MARK + "ip", ip, MARK + "gpu", *([gpu] if gpu else []), MARK + "env"]
    lines += [f"{k}={v if v is not None else remote.UNSET}" for k, v in env.items()]
    lines += [MARK + "tools", "/usr/local/bin/hf", MARK + "hub", "/home/n/.cache/huggingface/hub", MARK + "ref",
              COMMIT, "", MARK + "files"]
    if files:
        lines += [f"120 {snap}config.json", f"{30 * GIB} {snap}model-00001-of-00002.safetensors",
                  f"{30 * GIB} {snap}model-00002-of-00002.safetensors", f"99 {snap}model.safetensors.index.json",
                  MARK + "index " + snap,
                  json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors",
                                             "b": "model-00002-of-00002.safetensors"}})]
    return "\n".join([*lines, MARK + "end"]) + "\n"


CONFIG = parse_cluster({"nodes": ["spark-a", "spark-b"], "interface": "enp1s0f1np1"}, "c.toml")


def facts(host="spark-b", version="0.11.1", **kwargs) -> NodeFacts:
    found = NodeFacts(host)
    read_facts(found, answer(**kwargs))
    found.engine_identity = version
    return found


def by_name(report, host):
    node = next(n for n in report.nodes if n.host == host)
    return {c.name: c for c in node.checks}


def test_read_facts():
    found = facts()
    assert found.mem_available == 100 * GIB and found.mem_total == 125000000 * 1024
    assert found.env == {"NCCL_SOCKET_IFNAME": "enp1s0f1np1", "GLOO_SOCKET_IFNAME": "enp1s0f1np1"}
    assert found.tools == ["hf"] and found.ref_main == COMMIT
    assert found.snapshots[COMMIT].shards == {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}


def test_all_ok_and_the_weights_share():
    report = judge(CONFIG, {"spark-a": facts("spark-a"), "spark-b": facts()}, "o/m")
    assert report.ok
    assert "share of the weights: 30.0 GiB" in by_name(report, "spark-b")["memory"].message
    assert "192.168.100.10/24" in by_name(report, "spark-b")["interface"].message


def test_too_little_memory_for_the_share_says_drop_caches():
    report = judge(CONFIG, {"spark-a": facts("spark-a"), "spark-b": facts(memavail_kib=20 * 1024 * 1024)}, "o/m")
    memory = by_name(report, "spark-b")["memory"]
    assert not memory.ok and "drop_caches" in memory.message and "30.0 GiB" in memory.message


def test_discrete_gpu_memory_is_read_and_unified_is_not():
    found = facts(gpu="0, 81000, 81559")
    assert found.gpus == [(0, 81000 * 1024**2, 81559 * 1024**2)]
    report = judge(CONFIG, {"spark-a": facts("spark-a"), "spark-b": found}, None)
    assert "GPU 0: 79.1 GiB free" in by_name(report, "spark-b")["memory"].message
    gb10 = facts(gpu="0, [N/A], [N/A]")
    assert gb10.gpus == [(0, None, None)]
    assert "(unified memory)" in by_name(judge(CONFIG, {"spark-a": facts("spark-a"), "spark-b": gb10}, None),
                                         "spark-b")["memory"].message


def test_missing_model_offers_hf_when_spark_tui_is_not_there():
    report = judge(CONFIG, {"spark-a": facts("spark-a"), "spark-b": facts(files=False)}, "o/m")
    model = by_name(report, "spark-b")["model"]
    assert not model.ok and model.message.endswith("fetch it there: ssh spark-b hf download o/m")


def test_a_different_revision_than_the_head():
    other = facts()
    snapshot = other.snapshots.pop(COMMIT)
    snapshot.commit = "c" * 40
    other.snapshots[snapshot.commit] = snapshot
    other.ref_main = snapshot.commit
    model = by_name(judge(CONFIG, {"spark-a": facts("spark-a"), "spark-b": other}, "o/m"), "spark-b")["model"]
    assert not model.ok and f"--revision {COMMIT}" in model.message


@pytest.mark.parametrize(("state", "flags", "ok"), [("UP", ["UP", "LOWER_UP"], True),
                                                    ("UNKNOWN", ["LOOPBACK", "UP", "LOWER_UP"], True),
                                                    ("DOWN", ["NO-CARRIER", "UP"], False),
                                                    ("UNKNOWN", ["UP"], False)])
def test_interface_state(state, flags, ok):
    ip = json.dumps([{"ifname": "enp1s0f1np1", "flags": flags, "operstate": state,
                      "addr_info": [{"family": "inet", "local": "10.0.0.1", "prefixlen": 24}]}])
    check = by_name(judge(CONFIG, {"spark-a": facts("spark-a"), "spark-b": facts(ip=ip)}, None), "spark-b")
    assert check["interface"].ok is ok


def test_interface_without_ipv4():
    ip = json.dumps([{"ifname": "enp1s0f1np1", "flags": ["UP", "LOWER_UP"], "operstate": "UP",
                      "addr_info": [{"family": "inet6", "local": "fe80::1", "prefixlen": 64}]}])
    check = by_name(judge(CONFIG, {"spark-a": facts("spark-a"), "spark-b": facts(ip=ip)}, None), "spark-b")
    assert not check["interface"].ok and "no IPv4 address" in check["interface"].message


@pytest.mark.parametrize(("value", "exact", "selected"), [
    ("enp1s0f1np1", False, True), ("enp1", False, True), ("=enp1s0f1np1", False, True), ("=enp1", False, False),
    ("^docker,lo", False, True), ("^enp", False, False), ("eth0,enp1s0f1np1", False, True),
    ("enp1s0f1np1:5555", False, True), ("eth", False, False), ("", False, False),
    ("enp1", True, False), ("eth0,enp1s0f1np1", True, True),
])
def test_selects_reads_the_variables_as_nccl_and_gloo_do(value, exact, selected):
    assert selects(value, "enp1s0f1np1", exact_only=exact) is selected


def test_engine_answers():
    local = CONFIG.nodes[0]
    found = NodeFacts("spark-a")
    read_engine(found, local, 0, "INFO noise\n0.11.1\n", "", 60, "ssh spark-a")
    assert found.engine_identity == "0.11.1"
    found = NodeFacts("spark-a")
    read_engine(found, local, 127, "", "sh: 1: vllm: not found\n", 60, "ssh spark-a")
    assert found.engine_problem and "there is no vLLM at `vllm`" in found.engine_problem
    found = NodeFacts("spark-a")
    read_engine(found, local, None, "", "", 60, "ssh spark-a")
    assert found.engine_problem == "`vllm --version` gave no answer within 60 s; check that vLLM there."

    container = parse_cluster({"nodes": ["a"], "interface": "lo", "runtime": "container", "image": "img:1"},
                              "c.toml").nodes[0]
    found = NodeFacts("a")
    read_engine(found, container, 0, "sha256:" + "1" * 64 + "\n", "", 60, "ssh a")
    assert found.engine_identity == "sha256:" + "1" * 64
    found = NodeFacts("a")
    read_engine(found, container, 1, "", "Error: No such image: img:1\n", 60, "ssh a")
    assert found.engine_problem == "the image img:1 is not there; pull it: ssh a docker pull img:1"
    found = NodeFacts("a")
    read_engine(found, container, 1, "", "permission denied while trying to connect to the Docker daemon socket\n",
                60, "ssh a")
    assert found.engine_problem and "docker group" in found.engine_problem


def test_image_ids_must_match_the_head():
    config = parse_cluster({"nodes": ["a", "b"], "interface": "enp1s0f1np1", "runtime": "container",
                            "image": "img:1"}, "c.toml")
    a, b = facts("a", version="sha256:" + "1" * 64), facts("b", version="sha256:" + "2" * 64)
    report = judge(config, {"a": a, "b": b}, None)
    assert by_name(report, "a")["engine"].ok
    engine = by_name(report, "b")["engine"]
    assert not engine.ok and "docker pull img:1" in engine.message


def test_engine_script_quotes_and_expands_home_there():
    node = parse_cluster({"nodes": ["a"], "interface": "lo", "vllm": "~/venvs/vllm/bin/vllm"}, "c.toml").nodes[0]
    assert remote.engine_script(node, 30).endswith("\nbounded \"$HOME\"/venvs/vllm/bin/vllm --version\n")
    assert "timeout -k 5 30" in remote.engine_script(node, 30)
