"""Every shipped rule, table-driven: a case where it fires and a case where it does not.
A rule added without cases here fails `test_every_rule_has_cases`."""

from __future__ import annotations

import re

import pytest

from spark_tui.rules import builtin_rule_paths, load_rules, rule_applies

RULES = {r.id: r for r in load_rules(builtin_rule_paths()).rules}

# A dense BF16 model on an H100 with vLLM, that fits: no rule should fire on it.
BASE = {
    "engine": "vllm", "engine_version": "0.28.0", "hardware": "h100", "gpu_name": "NVIDIA H100 80GB HBM3",
    "compute_capability": "9.0", "unified_memory": False, "gpus": 1, "repo": "Qwen/Qwen3-8B",
    "model_type": "qwen3", "architecture": "Qwen3ForCausalLM", "multimodal": False, "moe": False,
    "moe_gated": None, "num_experts": None, "attention": "gqa", "sliding_window": False, "hybrid": False,
    "formats": ["safetensors"], "weight_format": "safetensors", "quant_method": "none", "quant_scheme": ["bf16"],
    "quant_producer": None, "weight_only": None, "quant_problem": "none", "checkpoint_kv_cache_dtype": None,
    "trust_remote_code": False, "gated": False, "params_total": 8_000_000_000, "kv_cache_dtype": "auto",
    "tensor_parallel_size": 1, "gpu_memory_utilization": 0.92, "gpu_memory_utilization_set": False,
    "max_model_len": 40960, "fits": True, "weights_fit": True, "startup_check_fails": None,
}
GB10 = {"hardware": "gb10", "gpu_name": "NVIDIA GB10", "compute_capability": "12.1", "unified_memory": True,
        "gpu_memory_utilization": 0.85}
CT_NVFP4 = {"quant_method": "compressed-tensors", "quant_scheme": ["nvfp4"]}
MOE_GATED = {"moe": True, "moe_gated": True, "num_experts": 128}
MOE_NONGATED = {"moe": True, "moe_gated": False, "num_experts": 128}
TRT = {"engine": "trtllm", "engine_version": "1.3.0rc15"}
OLD = {"engine_version": "0.14.0"}  # a vLLM before 0.16

# rule id → (facts where it fires, facts where it does not)
CASES: dict[str, tuple[dict, dict]] = {
    "vllm-fp4-marlin-fallback": ({**CT_NVFP4}, {**CT_NVFP4, "compute_capability": "10.0"}),
    "vllm-mxfp4-marlin-pre-hopper": ({"quant_scheme": ["mxfp4"], "compute_capability": "8.9"},
                                     {"quant_scheme": ["mxfp4"], "compute_capability": "9.0"}),
    "vllm-fp4-below-sm80": ({**CT_NVFP4, "compute_capability": "7.5"}, {**CT_NVFP4, "compute_capability": "8.0"}),
    "vllm-nvfp4a16-weight-only": ({"quant_scheme": ["nvfp4a16"], "compute_capability": "10.0"},
                                  {"quant_scheme": ["nvfp4"], "compute_capability": "10.0"}),
    "vllm-mxfp4-sm12x-marlin": ({"quant_scheme": ["mxfp4"], "compute_capability": "12.0"},
                                {"quant_scheme": ["mxfp4"], "compute_capability": "10.0"}),
    "vllm-ct-nvfp4-moe-nongated": ({**CT_NVFP4, **MOE_NONGATED, **OLD}, {**CT_NVFP4, **MOE_NONGATED}),
    "vllm-ct-nvfp4-moe-nongated-untested": ({**CT_NVFP4, **MOE_NONGATED}, {**CT_NVFP4, **MOE_NONGATED, **OLD}),
    "vllm-ct-nvfp4-moe-gated": ({**CT_NVFP4, **MOE_GATED}, {**CT_NVFP4, **MOE_NONGATED}),
    "vllm-modelopt-nvfp4-nongated-moe": ({**GB10, "quant_method": "modelopt", "quant_scheme": ["nvfp4"],
                                          **MOE_NONGATED},
                                         {**CT_NVFP4, **MOE_NONGATED}),
    "vllm-sm121-missing-moe-kernels": ({**GB10, **CT_NVFP4, **MOE_GATED}, {**GB10, **CT_NVFP4}),
    "vllm-gb10-ptxas-sm121a": ({**GB10, "engine_version": "0.19.0"}, {**GB10}),
    "torch-cc121-warning": ({**GB10, "engine_version": "0.19.0"}, {**GB10}),
    "vllm-sm12x-b12x-moe-not-automatic": ({**GB10, **CT_NVFP4, **MOE_GATED, "engine_version": "0.29.0"},
                                          {**GB10, **CT_NVFP4, **MOE_GATED}),
    "vllm-gb10-gpt-oss-marlin-first-token": ({**GB10, "model_type": "gpt_oss", "quant_scheme": ["mxfp4"]},
                                             {"model_type": "gpt_oss", "quant_scheme": ["mxfp4"]}),
    "vllm-sm121-mxfp8-moe-marlin": ({**GB10, **MOE_GATED, "quant_scheme": ["mxfp8"]},
                                    {**MOE_GATED, "quant_scheme": ["mxfp8"]}),
    "vllm-sm12x-flashinfer-jit-arch": ({**GB10, **CT_NVFP4}, {**CT_NVFP4, "compute_capability": "10.0"}),
    "vllm-gb10-deepgemm-fp8-block": ({**GB10, "quant_scheme": ["fp8-block"]},
                                     {**GB10, "quant_scheme": ["fp8-block"], "engine_version": "0.23.0"}),
    "gb10-planned-utilization": ({**GB10}, {**GB10, "gpu_memory_utilization_set": True}),
    "gb10-utilization-too-high": ({**GB10, "gpu_memory_utilization_set": True, "gpu_memory_utilization": 0.9},
                                  {**GB10, "gpu_memory_utilization_set": True, "gpu_memory_utilization": 0.85}),
    "vllm-uma-startup-check": ({**GB10}, {**GB10, "engine": "llamacpp"}),
    "vllm-startup-check-will-fail": ({"startup_check_fails": True}, {"startup_check_fails": False}),
    "gb10-nvml-memory-not-supported": ({**GB10}, {}),
    "gb10-uma-memory-pressure": ({**GB10}, {**GB10, "engine": "llamacpp"}),
    "vllm-mxfp4-marlin-eager-memory": ({**GB10, "quant_scheme": ["mxfp4"]}, {"quant_scheme": ["mxfp4"]}),
    "memory-weights-do-not-fit": ({"weights_fit": False, "fits": False}, {}),
    "memory-context-does-not-fit": ({"fits": False}, {"weights_fit": False, "fits": False}),
    "memory-tight": ({"fits": True, "memory_tight": True}, {"fits": True, "memory_tight": False}),
    "trtllm-sm12x-attention-sinks": ({**TRT, **GB10, "model_type": "gpt_oss", "engine_version": "1.2.0rc0"},
                                     {**TRT, **GB10, "model_type": "gpt_oss", "engine_version": "1.2.0"}),
    "trtllm-sm12x-trtllmgen-moe": ({**TRT, **GB10, **MOE_GATED}, {**TRT, **MOE_GATED}),
    "trtllm-gb10-memory-oom": ({**TRT, **GB10}, {**TRT}),
    "trtllm-gb10-slower-than-alternatives": ({**TRT, **GB10, **MOE_GATED, **CT_NVFP4},
                                             {**TRT, **GB10, **MOE_GATED, **CT_NVFP4, "engine_version": "1.3.0rc17"}),
    "trtllm-gb10-rc15-moe-load-hang": ({**TRT, **GB10, **MOE_GATED, **CT_NVFP4},
                                       {**TRT, **GB10, **MOE_GATED, **CT_NVFP4, "engine_version": "1.3.0rc12"}),
    "trtllm-gb10-rc15-mtp-ptxas": ({**TRT, **GB10, **MOE_GATED, **CT_NVFP4},
                                   {**TRT, **GB10, **MOE_GATED, **CT_NVFP4, "engine_version": "1.3.0rc17"}),
    "trtllm-sm121-fp8-block-scales": ({**TRT, **GB10, "quant_scheme": ["fp8-block"]},
                                      {**TRT, **GB10, "quant_scheme": ["fp8"]}),
    "llamacpp-sm12x-native-mxfp4-arch": ({**GB10, "engine": "llamacpp", "repo": "ggml-org/gpt-oss-20b-GGUF"},
                                         {**GB10, "engine": "llamacpp"}),
    "llamacpp-gb10-uma-memory-probe": ({**GB10, "engine": "llamacpp"}, {"engine": "llamacpp"}),
    "trtllm-gb10-multinode": ({**TRT, **GB10, "gpus": 2}, {**TRT, **GB10}),
    "trtllm-sm12x-cutlass-moe-slow": ({**TRT, **GB10, **MOE_GATED, **CT_NVFP4}, {**TRT, **GB10, **CT_NVFP4}),
    "trtllm-compressed-tensors-checkpoint": ({**TRT, **CT_NVFP4}, {**TRT, "quant_method": "modelopt"}),
    "vllm-gguf-only-repo": ({"formats": ["gguf"], "engine_version": "0.23.0"}, {"formats": ["gguf"]}),
    "vllm-gguf-plugin": ({"formats": ["gguf"]}, {"formats": ["safetensors", "gguf"]}),
    "llamacpp-needs-gguf": ({"engine": "llamacpp"}, {"engine": "llamacpp", "formats": ["gguf"]}),
    "llamacpp-sm12x-no-kernel-image": ({**GB10, "engine": "llamacpp", "formats": ["gguf"]},
                                       {"engine": "llamacpp", "formats": ["gguf"]}),
    "trtllm-gguf": ({**TRT, "formats": ["gguf"]}, {**TRT}),
    "quant-algo-without-method": ({"quant_problem": "algo-without-method"}, {"quant_problem": "unknown-method"}),
    "vllm-modelopt-unsupported-algo": ({"quant_method": "modelopt", "quant_scheme": ["w4a16-int"]},
                                       {"quant_method": "modelopt", "quant_scheme": ["nvfp4"]}),
    "remote-code": ({"trust_remote_code": True}, {}),
    "vllm-gb10-fp8-sm120-only-trap": ({**GB10, "quant_scheme": ["fp8"], "engine_version": "0.21.0"},
                                      {**GB10, "quant_scheme": ["fp8"]}),
    "vllm-gb10-deepgemm": ({**GB10, "model_type": "deepseek_v32"}, {"model_type": "deepseek_v32"}),
    "gb10-multinode-nccl-ib-hca": ({**GB10, "nodes": 2}, {**GB10, "nodes": 1}),
    "vllm-gb10-multinode-tp-hang": ({**GB10, "nodes": 2, "tensor_parallel_size": 2},
                                    {**GB10, "nodes": 2, "tensor_parallel_size": 1, "pipeline_parallel_size": 2}),
    "vllm-ray-one-gpu-per-node": ({"nodes": 2, "distributed": "ray"}, {"nodes": 2, "distributed": "mp"}),
}
# Rules that only explain log lines (an empty `when`): they never fire on facts, so their case is a log line.
LOG_ONLY = {rule_id for rule_id, rule in RULES.items() if not rule.when}

def test_base_facts_fire_nothing():
    assert [r.id for r in RULES.values() if rule_applies(r, BASE)] == []


def test_every_rule_has_cases():
    missing = set(RULES) - set(CASES) - LOG_ONLY
    assert not missing, f"rules without test cases: {sorted(missing)}"
    assert len(RULES) >= 15


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires_and_does_not(rule_id):
    fires, quiet = CASES[rule_id]
    rule = RULES[rule_id]
    assert rule_applies(rule, {**BASE, **fires}), f"{rule_id} should fire"
    assert not rule_applies(rule, {**BASE, **quiet}), f"{rule_id} should not fire"


def test_unknown_fact_does_not_fire():
    rule = RULES["vllm-ct-nvfp4-moe-nongated"]
    assert not rule_applies(rule, {**BASE, **CT_NVFP4, "moe": True, "moe_gated": None})


def test_log_patterns_identify_the_exact_upstream_error_strings():
    lines = {
        "vllm-ct-nvfp4-moe-nongated": "NotImplementedError: is_act_and_mul=False is supported only for unquantized, "
                                      "ModelOpt FP8, and ModelOpt NvFp4 checkpoints",
        "vllm-fp4-marlin-fallback": "Your GPU does not have native support for FP4 computation but FP4 quantization "
                                    "is being used.",
        "trtllm-sm12x-attention-sinks": "Assertion failed: The attention sinks is only supported on SM90",
        "trtllm-sm12x-trtllmgen-moe": "NotImplementedError: TRTLLMGenFusedMoE does not support SM120 and above.",
        "vllm-gb10-ptxas-sm121a": "ptxas fatal   : Value 'sm_121a' is not defined for option 'gpu-name'",
        "torch-cc121-warning": "UserWarning: Found GPU0 NVIDIA GB10 which is of cuda capability 12.1.",
        "vllm-sm12x-flashinfer-jit-arch": "RuntimeError: No supported CUDA architectures found for major versions "
                                          "[10].",
        "vllm-gb10-fp8-sm120-only-trap": "This kernel only supports sm120.",
        "vllm-sm121-missing-moe-kernels": "torch.AcceleratorError: CUDA error: no kernel image is available for "
                                          "execution on the device",
        "vllm-uma-startup-check": "ValueError: Free memory on device cuda:0 (55.87/119.56 GiB) on startup is less "
                                  "than desired GPU memory utilization (0.9, 107.6 GiB).",
        "gb10-uma-memory-pressure": "NVRM: nvCheckOkFailedNoLog: Check failed: Out of memory [NV_ERR_NO_MEMORY]",
        # vLLM 0.34.0's own wording (vllm/v1/executor/ray_utils.py, multiproc_executor.py, ray_executor_v2.py)
        "vllm-multinode-waiting-for-nodes": "Waiting for creating a placement group of specs for 10 seconds. "
                                            "specs=[{'GPU': 1.0, 'node:10.0.0.1': 0.001}, {'GPU': 1.0}].",
        "vllm-multinode-worker-died": "ERROR Worker proc VllmWorker-1 died unexpectedly (exit code: -9), shutting "
                                      "down executor.",
    }
    assert set(lines) >= LOG_ONLY, f"log-only rules without a log line: {sorted(LOG_ONLY - set(lines))}"
    for rule_id, line in lines.items():
        assert any(re.search(p, line) for p in RULES[rule_id].log_patterns), rule_id
    h100 = "Found GPU0 NVIDIA H100 which is of cuda capability 9.0"
    assert not any(re.search(p, h100) for p in RULES["torch-cc121-warning"].log_patterns)
    # torch 2.13's wording (pytorch #172629) is the same warning
    newer = "Found GPU0 NVIDIA GB10 which is of compute capability (CC) 12.1. Your installed torch==2.13.0+cu130"
    assert any(re.search(p, newer) for p in RULES["torch-cc121-warning"].log_patterns)
    # a platform message of 0.16+ is not #31782's quantization error
    platform = "is_act_and_mul=False is supported only for CUDA, XPU and ROCm for now"
    assert not any(re.search(p, platform) for p in RULES["vllm-ct-nvfp4-moe-nongated"].log_patterns)


def test_every_bug_reference_is_a_real_looking_link():
    for rule in RULES.values():
        for ref in rule.references:
            assert ref.url.startswith("https://")
            if ref.number:
                assert str(ref.number) in ref.url or str(ref.number) in ref.label, (rule.id, ref)
