"""The memory plan against vLLM's own accounting (worked examples from vLLM's source and public logs)."""

from __future__ import annotations

import dataclasses

import pytest

from spark_tui.advisor.memory import (
    GIB,
    _reported_tokens,
    batch_defaults,
    default_utilization,
    kv_bytes_per_token,
    mxfp4_padding_bytes,
    plan_memory,
)
from spark_tui.advisor.types import PlanOptions
from spark_tui.hardware import resolve_hardware
from spark_tui.hub.facts import build_model_facts
from tests.support import fixture_repos as fr


def model(config, weights=10 * GIB):
    return build_model_facts("org/m", source="hub", revision="x", api={}, config=config, hf_quant_config=None,
                             files=[("model.safetensors", weights)])


@pytest.mark.parametrize(
    ("config", "tp", "dtype", "expected"),
    [
        (fr.config("Qwen__Qwen3-8B"), 1, "auto", 147_456),  # 36×2×8×128×2
        (fr.config("meta-llama__Llama-3.3-70B-Instruct"), 1, "auto", 327_680),  # 80×2×8×128×2
        (fr.config("meta-llama__Llama-3.3-70B-Instruct"), 4, "auto", 81_920),  # 2 KV heads per rank
        (fr.config("meta-llama__Llama-3.3-70B-Instruct"), 8, "auto", 40_960),
        (fr.config("Qwen__Qwen3-30B-A3B"), 1, "auto", 98_304),
        (fr.config("Qwen__Qwen3-32B"), 1, "auto", 262_144),
        (fr.config("Qwen__Qwen3-32B"), 1, "fp8", 131_072),  # fp8 halves it
        (fr.deepseek_v3(), 1, "auto", 70_272),  # MLA: 61 × 576 × 2, not split by TP
        (fr.deepseek_v3(), 8, "auto", 70_272),
        (fr.deepseek_v3(), 1, "fp8", 35_136),
    ],
)
def test_kv_bytes_per_token_as_vllm_computes_them(config, tp, dtype, expected):
    assert kv_bytes_per_token(model(config), tp, dtype) == expected


def test_version_defaults():
    assert default_utilization("0.20.1") == 0.90
    assert default_utilization("0.21.0") == 0.92
    h100 = resolve_hardware("h100")
    assert batch_defaults(h100.memory_bytes, h100.gpu_name, "0.28.0") == (8192, 1024)
    a100 = resolve_hardware("a100-80gb")
    assert batch_defaults(a100.memory_bytes, "NVIDIA A100-SXM4-80GB", "0.28.0") == (2048, 256)  # PR #17885
    b200 = resolve_hardware("b200")
    assert batch_defaults(b200.memory_bytes, b200.gpu_name, "0.28.0") == (16384, 1024)
    assert batch_defaults(b200.memory_bytes, b200.gpu_name, "0.27.0") == (8192, 1024)


def test_sliding_window_token_report_by_era():
    # reference/vllm-memory.md §3.4 worked example: gpt-oss-120b shape (18 sliding + 18 full), 72,817 blocks.
    cfg = fr.gpt_oss_20b()
    cfg["num_hidden_layers"] = 36
    cfg["layer_types"] = ["sliding_attention", "full_attention"] * 18
    m = model(cfg)
    assert _reported_tokens(m, 72_817, 16, 18, 131_072, 8192, "0.20.0") == 582_528
    assert _reported_tokens(m, 72_817, 16, 18, 131_072, 8192, "0.28.0") == pytest.approx(1_095_405, abs=2)


def test_public_l40s_log_block_arithmetic():
    # PR #17122: Llama-3.1-8B on an L40S reported 158,656 tokens = 9,916 blocks of 2 MiB (16 tokens × 128 KiB).
    m = model(fr.config("meta-llama__Llama-3.1-8B"))
    per_block = kv_bytes_per_token(m, 1, "auto") * 16
    assert per_block == 2 * 1024**2
    assert 9_916 * 16 == 158_656


def test_plan_on_gb10_uses_the_recommended_utilization_and_fits():
    plan = plan_memory(model(fr.config("Qwen__Qwen3-8B"), 6 * GIB), resolve_hardware("gb10"),
                       PlanOptions(engine_version="0.28.0"))
    assert plan.gpu_memory_utilization == 0.85 and plan.utilization_source == "recommended"
    assert plan.budget_bytes == pytest.approx(0.85 * 119.56 * GIB, rel=1e-6)
    assert plan.fits and plan.max_model_len == 40960 and plan.max_model_len_source == "model"
    assert plan.kv_cache_bytes == plan.budget_bytes - plan.weights_bytes - plan.overhead_bytes
    assert plan.kv_cache_tokens == plan.num_blocks * 16
    assert plan.cudagraph_bytes > 0  # v0.21+ subtracts the CUDA-graph estimate up front


def test_old_vllm_keeps_cuda_graphs_out_of_the_budget():
    plan = plan_memory(model(fr.config("Qwen__Qwen3-8B")), resolve_hardware("h100"),
                       PlanOptions(engine_version="0.11.0"))
    assert plan.cudagraph_bytes == 0 and plan.gpu_memory_utilization == 0.90
    assert any("headroom" in a for a in plan.assumptions)


def test_context_that_does_not_fit_is_refused_and_the_largest_fitting_one_is_given():
    # Llama-3.3-70B in bf16-sized weights on one RTX 4090: nothing fits.
    big = plan_memory(model(fr.config("meta-llama__Llama-3.3-70B-Instruct"), 140 * GIB),
                      resolve_hardware("rtx-4090"), PlanOptions(engine_version="0.28.0"))
    assert big.weights_fit is False and big.fits is False
    # Qwen3-32B with 16 GiB of weights on a 24 GB card: the model's 40,960 tokens do not fit, fewer do.
    m = model(fr.config("Qwen__Qwen3-32B"), 16 * GIB)
    given = plan_memory(m, resolve_hardware("rtx-4090"), PlanOptions(engine_version="0.28.0", max_model_len=40960))
    assert given.weights_fit and given.fits is False
    assert 0 < given.max_model_len_fit < 40960
    auto = plan_memory(m, resolve_hardware("rtx-4090"), PlanOptions(engine_version="0.28.0"))
    assert auto.fits and auto.max_model_len_source == "reduced" and auto.max_model_len <= auto.max_model_len_fit
    # The reduced length really fits: one request of that length needs no more blocks than exist.
    assert auto.max_model_len <= auto.num_blocks * auto.block_size


def test_tensor_parallel_splits_weights_and_kv_heads():
    m = model(fr.config("meta-llama__Llama-3.3-70B-Instruct"), 40 * GIB)
    one = plan_memory(m, dataclasses.replace(resolve_hardware("h100"), gpus=1), PlanOptions(engine_version="0.28.0"))
    four = plan_memory(m, dataclasses.replace(resolve_hardware("h100"), gpus=4),
                       PlanOptions(engine_version="0.28.0", tensor_parallel_size=4))
    assert four.weights_bytes == one.weights_bytes // 4
    assert four.kv_bytes_per_token == one.kv_bytes_per_token // 4
    assert four.non_torch_bytes > one.non_torch_bytes


def test_startup_check_on_a_probed_unified_machine():
    hw = dataclasses.replace(resolve_hardware("gb10"), source="probe", host_memory_available_bytes=55 * GIB)
    plan = plan_memory(model(fr.config("Qwen__Qwen3-8B")), hw, PlanOptions(engine_version="0.28.0"))
    assert plan.startup_check_fails is True and plan.startup_free_bytes == 55 * GIB
    roomy = dataclasses.replace(hw, host_memory_available_bytes=118 * GIB)
    assert plan_memory(model(fr.config("Qwen__Qwen3-8B")), roomy, PlanOptions()).startup_check_fails is False


@pytest.mark.parametrize(("gpu", "padded"), [("gb10", True), ("a100-80gb", True), ("h100", True), ("b200", False)])
def test_mxfp4_experts_are_padded_where_vllm_runs_them_through_marlin(gpu, padded):
    # Marlin pads gpt-oss-120b's 2880-wide experts to 2944 × 3072: +5.13 GiB (vLLM mxfp4.py); FlashInfer on
    # datacenter Blackwell is not modelled.
    oss = model(fr.config("openai__gpt-oss-120b"), 60 * GIB)
    extra = mxfp4_padding_bytes(oss, resolve_hardware(gpu))
    assert (extra / GIB == pytest.approx(5.13, abs=0.01)) if padded else extra == 0
    plan = plan_memory(oss, resolve_hardware(gpu), PlanOptions(engine_version="0.33.0"))
    assert plan.weights_bytes == 60 * GIB + extra
    assert any("Marlin" in a for a in plan.assumptions) == padded


def test_only_mxfp4_moe_checkpoints_are_padded():
    assert mxfp4_padding_bytes(model(fr.config("Qwen__Qwen3-30B-A3B")), resolve_hardware("gb10")) == 0
