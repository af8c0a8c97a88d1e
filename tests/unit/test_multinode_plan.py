"""Planning across nodes: the layout (tensor vs pipeline parallel), a pipeline stage's memory, the network in the
decode bound, and the commands of vLLM's multi-node engine on each node (Ray-less from 0.11.1, else Ray)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from spark_tui.advisor import nodes_needed
from spark_tui.advisor.memory import pipeline_stage, plan_memory
from spark_tui.advisor.multinode import (
    choose_layout,
    choose_mode,
    placeholder_nodes,
    tp_problem,
    vllm_node_commands,
)
from spark_tui.advisor.performance import decode_bound, interconnect_bytes_per_token
from spark_tui.advisor.types import ClusterNodes, PlanOptions
from spark_tui.hardware import from_profile
from spark_tui.hardware.profiles import load_profiles
from spark_tui.hub.facts import ModelFacts, build_model_facts
from tests.support import fixture_repos as fr

GIB = 1024**3


def model(heads: int = 128, kv: int = 8, weights_gib: float = 217.0) -> ModelFacts:
    """Llama-3.1-405B's shapes (126 layers, 128 heads, 8 KV heads, hidden 16384), its NVFP4 size by default."""
    config = {**fr.llama_405b(), "num_attention_heads": heads, "num_key_value_heads": kv}
    return build_model_facts("org/m", source="hub", revision="x", api={}, config=config, hf_quant_config=None,
                             files=[("model.safetensors", int(weights_gib * GIB))])


def gb10(nodes: int = 1):
    return replace(from_profile(load_profiles()["gb10"]), nodes=nodes)


def test_sparks_split_tensor_parallel_unless_the_heads_cannot():
    assert choose_layout(model(), 2, 1, "auto")[:2] == (2, 1)  # NVIDIA's two-Spark playbook: TP 2
    tp, pp, note = choose_layout(model(), 3, 1, "auto")  # 128 heads do not split in three
    assert (tp, pp) == (1, 3) and "128 attention heads" in note
    assert choose_layout(model(), 3, 1, "tp")[:2] == (3, 1)  # asked for: planning refuses it with the reason
    assert choose_layout(model(), 2, 8, "auto")[:2] == (8, 2)  # 8-GPU nodes: TP inside, a stage per node
    assert choose_layout(model(), 2, 1, "pp")[:2] == (1, 2)


@pytest.mark.parametrize("heads, kv, tp, problem", [
    (128, 8, 2, None), (128, 8, 3, "attention heads"), (32, 4, 8, None),  # 8 ranks, 4 KV heads: each replicated
    (48, 8, 32, "attention heads"), (40, 8, 4, None), (40, 8, 5, "KV heads"), (48, 6, 4, "KV heads"),
])
def test_tensor_parallel_needs_heads_that_split(heads, kv, tp, problem):
    found = tp_problem(model(heads=heads, kv=kv), tp)
    assert (found is None) if problem is None else (problem in found)


def test_a_pipeline_stage_holds_the_largest_share_of_layers_and_weights():
    stage = pipeline_stage(model(), 4)  # 126 = 31 + 31 + 32 + 32: the largest stage has 32
    assert stage.num_layers == 32 and stage.attention.full_layers == 32
    assert stage.weights_bytes == pytest.approx(217.0 * GIB * 32 / 126, rel=1e-6)
    assert pipeline_stage(model(), 1) == model()


def test_memory_per_gpu_across_nodes():
    one = plan_memory(model(), gb10(), PlanOptions())
    tp2 = plan_memory(model(), gb10(2), PlanOptions(tensor_parallel_size=2))
    pp3 = plan_memory(model(), gb10(3), PlanOptions(pipeline_parallel_size=3))
    assert one.fits is False and one.weights_fit is False
    assert tp2.weights_bytes == pytest.approx(one.weights_bytes / 2, rel=1e-6)
    assert pp3.weights_bytes == pytest.approx(one.weights_bytes * 42 / 126, rel=1e-6) and pp3.fits
    assert any("pipeline parallel over 3 stages" in a for a in pp3.assumptions)
    assert pp3.kv_bytes_per_token == one.kv_bytes_per_token * 42 // 126  # each stage keeps its layers' KV


def test_the_fewest_sparks_that_fit():
    m = model()
    assert nodes_needed(m, gb10(), PlanOptions(), plan_memory(m, gb10(), PlanOptions())) == 3
    small = model(weights_gib=20)
    assert nodes_needed(small, gb10(), PlanOptions(), plan_memory(small, gb10(), PlanOptions())) is None
    huge = model(weights_gib=700)
    assert nodes_needed(huge, gb10(), PlanOptions(), plan_memory(huge, gb10(), PlanOptions())) is None


def test_the_network_joins_the_decode_bound():
    m = model(weights_gib=100)
    one = decode_bound(m, gb10(), 1, 4096)
    tp2 = decode_bound(m, gb10(2), 2, 4096)
    pp2 = decode_bound(m, gb10(2), 1, 4096, pp=2)
    # TP: two ranks read halves at once, then 2 all-reduces per layer of one hidden vector (bf16), ring: 2(n-1)/n.
    assert tp2.interconnect_bytes_per_token == 2 * 126 * 16384 * 2 * 2 * 1 // 2
    expected = 1 / (one.bytes_per_token / (2 * 273e9) + tp2.interconnect_bytes_per_token / 25e9)
    assert tp2.decode_tokens_per_s_bound == pytest.approx(expected, abs=0.06)
    assert one.decode_tokens_per_s_bound < tp2.decode_tokens_per_s_bound <= 2 * one.decode_tokens_per_s_bound
    # PP: one stream goes through the stages in turn (no speed-up), handing one vector on between them.
    assert pp2.interconnect_bytes_per_token == 16384 * 2
    assert pp2.decode_tokens_per_s_bound <= one.decode_tokens_per_s_bound
    unknown_network = decode_bound(m, replace(gb10(2), interconnect_gbps=None), 2, 4096)
    assert unknown_network.decode_tokens_per_s_bound is None  # no made-up network
    assert interconnect_bytes_per_token(m, gb10(), 1, 1) == 0


def test_rayless_commands_from_0_11_1_workers_first_then_the_server():
    assert choose_mode("0.11.1") == "mp" and choose_mode("0.11.0") == "ray" and choose_mode("0.34.0", "ray") == "ray"
    nodes = ClusterNodes(("spark-a", "spark-b"), ("192.168.100.10", "192.168.100.11"), "enp1s0f1np1")
    server = ("vllm", "serve", "org/m", "--tensor-parallel-size", "2")
    cmds = vllm_node_commands(server, {"X": "1"}, nodes, "mp")
    assert [(c.host, c.role) for c in cmds] == [("spark-b", "worker"), ("spark-a", "server")]
    worker, head = cmds
    assert worker.argv[-2:] == ("1", "--headless") and "--nnodes" in worker.argv
    assert worker.argv[worker.argv.index("--master-addr") + 1] == "192.168.100.10"
    assert head.argv[head.argv.index("--node-rank") + 1] == "0" and "--headless" not in head.argv
    assert worker.env["VLLM_HOST_IP"] == "192.168.100.11" and head.env["VLLM_HOST_IP"] == "192.168.100.10"
    assert worker.env["NCCL_SOCKET_IFNAME"] == worker.env["GLOO_SOCKET_IFNAME"] == "enp1s0f1np1"
    assert worker.env["X"] == "1"  # the plan's own environment reaches every rank
    assert nodes.known and not placeholder_nodes(2).known


def test_ray_commands_head_then_workers_then_the_server():
    nodes = ClusterNodes(("a", "b", "c"), ("10.0.0.1", "10.0.0.2", "10.0.0.3"), "eth1")
    cmds = vllm_node_commands(("vllm", "serve", "org/m"), {}, nodes, "ray")
    assert [c.role for c in cmds] == ["ray-head", "ray-worker", "ray-worker", "server"]
    assert cmds[0].argv[:3] == ("ray", "start", "--head") and "--node-ip-address=10.0.0.1" in cmds[0].argv
    assert "--address=10.0.0.1:6379" in cmds[2].argv and "--node-ip-address=10.0.0.3" in cmds[2].argv
    assert cmds[-1].host == "a" and cmds[-1].argv[-2:] == ("--distributed-executor-backend", "ray")


def test_each_node_gets_its_own_interface_where_cluster_names_one():
    # README's [cluster] example: spark-b's cable is on its other port (enP2p1s0f1np1), a per-node override.
    nodes = ClusterNodes(("spark-a", "spark-b"), ("192.168.100.10", "192.168.101.11"), "enp1s0f1np1",
                         interfaces=(None, "enP2p1s0f1np1"))
    for mode in ("mp", "ray"):
        by_host = {(c.host, c.role): c.env for c in vllm_node_commands(("vllm", "serve", "org/m"), {}, nodes, mode)}
        worker = next(env for (host, _), env in by_host.items() if host == "spark-b")
        assert worker["NCCL_SOCKET_IFNAME"] == worker["GLOO_SOCKET_IFNAME"] == "enP2p1s0f1np1"
        assert all(env["NCCL_SOCKET_IFNAME"] == "enp1s0f1np1" for (host, _), env in by_host.items()
                   if host == "spark-a")
