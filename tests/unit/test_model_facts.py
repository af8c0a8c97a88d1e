"""Facts from real public configs: architecture, MoE, parameters, quantization, weights."""

from __future__ import annotations

import pytest

from spark_tui.hub.facts import build_model_facts
from tests.support import fixture_repos as fr


def facts(config, hf_quant=None, files=None, api=None):
    return build_model_facts("org/model", source="hub", revision="abc", api=api or {}, config=config,
                             hf_quant_config=hf_quant, files=files or [("model.safetensors", 1000)])


@pytest.mark.parametrize(
    ("name", "total_b", "active_b"),
    [
        ("Qwen__Qwen3-8B", 8.19, 8.19),  # Qwen3-8B: 8.2B
        ("Qwen__Qwen3-32B", 32.76, 32.76),  # Qwen3-32B: 32.8B
        ("Qwen__Qwen3-30B-A3B", 30.53, 3.35),  # "30B-A3B": 30.5B total, 3.3B active
        ("meta-llama__Llama-3.3-70B-Instruct", 70.55, 70.55),  # 70.6B
        ("meta-llama__Llama-3.1-8B", 8.03, 8.03),  # 8.0B
        ("nvidia__Nemotron-3-Nano-30B-A3B", 31.58, 3.58),  # "30B-A3B" (31.6B on its card)
    ],
)
def test_parameter_counts_match_the_published_sizes(name, total_b, active_b):
    f = facts(fr.config(name))
    assert f.params_total / 1e9 == pytest.approx(total_b, abs=0.05)
    assert f.params_active / 1e9 == pytest.approx(active_b, abs=0.05)


def test_deepseek_v3_mla_and_moe_schedule():
    f = facts(fr.deepseek_v3())
    assert f.attention.kind == "mla" and f.attention.mla_latent == 576
    assert f.params_total / 1e9 == pytest.approx(671, abs=1.5)  # DeepSeek-V3: 671B total, 37B active
    assert f.params_active / 1e9 == pytest.approx(37.5, abs=1.0)


def test_moe_detection_and_gating():
    qwen = facts(fr.config("Qwen__Qwen3-30B-A3B"))
    assert (qwen.moe, qwen.num_experts, qwen.experts_per_token, qwen.moe_gated) == (True, 128, 8, True)
    nemo = facts(fr.config("nvidia__Nemotron-3-Nano-30B-A3B"))
    assert (nemo.moe, nemo.num_experts, nemo.experts_per_token, nemo.moe_gated) == (True, 128, 6, False)
    assert nemo.moe_activation == "relu2"
    assert nemo.attention.full_layers == 6 and nemo.attention.mamba_layers == 23
    dense = facts(fr.config("Qwen__Qwen3-8B"))
    assert dense.moe is False and dense.moe_gated is None


def test_multimodal_text_config_is_read():
    f = facts(fr.config("Qwen__Qwen3-VL-4B"))
    assert f.multimodal and f.model_type == "qwen3_vl_text" and f.architecture == "Qwen3VLForConditionalGeneration"
    assert f.num_layers == 36 and f.kv_heads == 8 and f.max_context == 262144
    assert f.quantization.scheme == "bf16"


def test_sliding_window_layers_of_gpt_oss():
    f = facts(fr.gpt_oss_20b())
    assert (f.attention.full_layers, f.attention.sliding_layers, f.attention.sliding_window) == (12, 12, 128)
    assert f.quantization.method == "mxfp4" and f.quantization.scheme == "mxfp4"


def test_llama4_chunked_attention_counts_as_local():
    f = facts(fr.llama4_scout())
    assert f.attention.sliding_layers == 36 and f.attention.full_layers == 12
    assert f.attention.sliding_window == 8192 and f.moe and f.num_experts == 16


@pytest.mark.parametrize(
    ("quant", "hf_quant", "method", "scheme", "kv"),
    [
        (fr.CT_NVFP4, None, "compressed-tensors", "nvfp4", None),
        (fr.MODELOPT_NVFP4_CONFIG, None, "modelopt", "nvfp4", "fp8"),
        (None, fr.MODELOPT_NVFP4_HF_QUANT, "modelopt", "nvfp4", "fp8"),  # legacy: hf_quant_config.json only
        (fr.AWQ, None, "awq", "w4a16-int", None),
        (fr.MXFP4, None, "mxfp4", "mxfp4", None),
        (fr.config("_example__compressed-tensors_example_quant_config"), None, "compressed-tensors", "w8a8-int", None),
        (fr.config("_example__modelopt_config_json_quantization_config_FP8"), None, "modelopt", "fp8", "fp8"),
        (None, fr.config("_example__modelopt_hf_quant_config_FP8"), "modelopt", "fp8", "fp8"),
        ({"quant_method": "fp8", "weight_block_size": [128, 128], "activation_scheme": "dynamic"}, None, "fp8",
         "fp8-block", None),
        ({"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}, None,
         "bitsandbytes", "nf4", None),
        ({"quant_method": "gptq", "bits": 4, "group_size": 128}, None, "gptq", "w4a16-int", None),
    ],
)
def test_quantization_detection(quant, hf_quant, method, scheme, kv):
    cfg = fr.with_quant(fr.config("Qwen__Qwen3-8B"), quant)
    q = facts(cfg, hf_quant).quantization
    assert (q.method, q.scheme, q.kv_cache_dtype) == (method, scheme, kv)


def test_nvfp4_weight_only_and_mixed_precision_per_group():
    weights_only = {"quant_method": "compressed-tensors", "config_groups": {"group_0": {
        "targets": ["Linear"], "weights": {"num_bits": 4, "type": "float", "group_size": 16}}}}
    q = facts(fr.with_quant(fr.config("Qwen__Qwen3-8B"), weights_only)).quantization
    assert q.scheme == "nvfp4a16" and q.activation_bits is None
    mixed = {"quant_method": "compressed-tensors", "format": "mixed-precision", "config_groups": {
        "group_0": {"format": "nvfp4-pack-quantized", "weights": {"num_bits": 4, "type": "float", "group_size": 16},
                    "input_activations": {"num_bits": 4, "type": "float", "group_size": 16}},
        "group_1": {"format": "float-quantized", "weights": {"num_bits": 8, "type": "float"},
                    "input_activations": {"num_bits": 8, "type": "float"}}}}
    q = facts(fr.with_quant(fr.config("Qwen__Qwen3-8B"), mixed)).quantization
    assert q.scheme == "mixed" and set(q.group_schemes) == {"nvfp4", "fp8"} and q.weight_bits == 4


def test_modelopt_config_is_not_mistaken_for_compressed_tensors():
    # It has config_groups like compressed-tensors, but quant_method says modelopt.
    q = facts(fr.with_quant(fr.config("Qwen__Qwen3-8B"), fr.MODELOPT_NVFP4_CONFIG)).quantization
    assert q.method == "modelopt" and q.vllm_method == "modelopt_fp4" and q.producer.startswith("modelopt")


def test_quant_algo_without_method_is_flagged():
    q = facts(fr.with_quant(fr.config("Qwen__Qwen3-8B"), {"quant_algo": "NVFP4"})).quantization
    assert q.method is None and q.problem_kind == "algo-without-method"


def test_weights_from_listing_skip_duplicates_and_pick_gguf_variant():
    files = [("model-00001-of-00002.safetensors", 100), ("model-00002-of-00002.safetensors", 50),
             ("original/consolidated.00.pth", 999), ("consolidated.safetensors", 150), ("config.json", 5)]
    f = facts(fr.config("Qwen__Qwen3-8B"), files=files)
    assert f.weights_bytes == 150 and f.formats == ("safetensors",)
    gguf = facts(None, files=[("m-Q8_0.gguf", 800), ("m-Q4_K_M.gguf", 400)])
    assert gguf.weights_bytes == 400 and gguf.formats == ("gguf",) and gguf.quantization.method == "gguf"
    assert gguf.attention is None and "config.json is missing" in gguf.notes[0]


def test_remote_code_gated_and_licence_from_api():
    f = facts(fr.config("nvidia__Nemotron-3-Nano-30B-A3B"),
              api={"gated": "manual", "cardData": {"license": "other"}, "private": False})
    assert f.trust_remote_code and f.gated == "manual" and f.license == "other"
