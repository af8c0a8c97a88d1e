"""`check --nodes N`: the contract of issue 15 (hardware.nodes, memory per GPU of the layout, launch.nodes in start
order), the hint for a model that fits only on several Sparks, and the multi-node rules."""

from __future__ import annotations

import json

PINNED = ("--engine-version", "0.28.0")


def test_405b_fits_only_on_three_sparks_and_says_so(cli):
    one = json.loads(cli("check", "nvidia/Llama-3.1-405B-Instruct-NVFP4", "--hardware", "gb10", "--json",
                         *PINNED).out)
    assert one["memory"]["fits"] is False and one["nodes_needed"] == 3
    text = cli("check", "nvidia/Llama-3.1-405B-Instruct-NVFP4", "--hardware", "gb10", *PINNED).out
    assert "fits on 3 with vLLM's multi-node engine" in text and "--nodes 3" in text

    three = cli("check", "nvidia/Llama-3.1-405B-Instruct-NVFP4", "--hardware", "gb10", "--nodes", "3", "--json",
                *PINNED)
    data = json.loads(three.out)
    assert data["hardware"]["nodes"] == 3 and data["memory"]["fits"] is True and data["nodes_needed"] is None
    # 128 heads do not split in three: a pipeline stage per Spark, each holding 42 of the 126 layers
    assert data["layout"] == {"nodes": 3, "tensor_parallel_size": 1, "pipeline_parallel_size": 3,
                              "distributed": "mp"}
    assert abs(data["memory"]["weights_bytes"] - one["memory"]["weights_bytes"] * 42 / 126) < 2**20
    nodes = data["launch"]["nodes"]
    assert [(n["host"], n["role"]) for n in nodes] == [("node2", "worker"), ("node3", "worker"), ("node1", "server")]
    assert all({"host", "argv", "env"} <= set(n) for n in nodes)
    assert nodes[-1]["argv"][:3] == ["vllm", "serve", "nvidia/Llama-3.1-405B-Instruct-NVFP4"]
    assert "--pipeline-parallel-size" in nodes[-1]["argv"] and "--headless" in nodes[0]["argv"]


def test_two_sparks_tensor_parallel_with_the_rules_that_apply(cli):
    r = cli("check", "nvidia/Llama-3.3-70B-Instruct-NVFP4", "--hardware", "gb10", "--nodes", "2", "--json",
            *PINNED)
    data = json.loads(r.out)
    assert data["layout"]["tensor_parallel_size"] == 2 and data["layout"]["pipeline_parallel_size"] == 1
    rules = {f["rule"] for f in data["findings"]}
    assert {"gb10-multinode-nccl-ib-hca", "vllm-gb10-multinode-tp-hang"} <= rules
    assert data["performance"]["interconnect_bytes_per_token"] > 0
    single = json.loads(cli("check", "nvidia/Llama-3.3-70B-Instruct-NVFP4", "--hardware", "gb10", "--json",
                            *PINNED).out)
    assert data["memory"]["weights_bytes"] * 2 - single["memory"]["weights_bytes"] < 4
    assert data["performance"]["decode_tokens_per_s_bound"] > single["performance"]["decode_tokens_per_s_bound"]
    assert not ({"gb10-multinode-nccl-ib-hca", "vllm-gb10-multinode-tp-hang"} & {f["rule"] for f in
                                                                                single["findings"]})


def test_before_0_11_1_the_plan_is_a_ray_cluster(cli):
    data = json.loads(cli("check", "nvidia/Llama-3.3-70B-Instruct-NVFP4", "--hardware", "gb10", "--nodes", "2",
                          "--json", "--engine-version", "0.10.2").out)
    assert [n["role"] for n in data["launch"]["nodes"]] == ["ray-head", "ray-worker", "server"]
    assert data["launch"]["nodes"][-1]["argv"][-2:] == ["--distributed-executor-backend", "ray"]
    assert "vllm-ray-one-gpu-per-node" in {f["rule"] for f in data["findings"]}


def test_bad_multinode_requests_get_one_sentence(cli):
    r = cli("check", "nvidia/Llama-3.3-70B-Instruct-NVFP4", "--hardware", "gb10", "--nodes", "2",
            "--distributed", "mp", "--engine-version", "0.10.2")
    assert r.code == 3 and "has no Ray-less multi-node mode" in r.err and "Traceback" not in r.err
    r = cli("check", "nvidia/Llama-3.1-405B-Instruct-NVFP4", "--hardware", "gb10", "--nodes", "3", "--layout", "tp",
            *PINNED)
    assert r.code == 3 and "128 attention heads do not split over 3" in r.err
    r = cli("check", "nvidia/Llama-3.3-70B-Instruct-NVFP4", "--hardware", "gb10", "--nodes", "2", "--engine",
            "llamacpp")
    assert r.code == 3 and "vLLM's multi-node serving only" in r.err
