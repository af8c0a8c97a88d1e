"""The repos the Hub emulator serves, built from real public configs (tests/fixtures/configs/) plus the
quantization blocks each producer writes. File sizes are the checkpoints' approximate sizes; where a
config is assembled from documented values rather than copied verbatim, `provenance` says so.
See tests/fixtures/README.md.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests.support import gguf_files

CONFIGS = Path(__file__).resolve().parent.parent / "fixtures" / "configs"
GB = 1_000_000_000
GIB = 1024**3


def config(name: str) -> dict[str, Any]:
    return json.loads((CONFIGS / f"{name}.json").read_text())


def hf_quant_config(name: str) -> dict[str, Any] | None:
    """The hf_quant_config.json published beside a ModelOpt export's config, when the fixtures hold it."""
    path = CONFIGS / f"{name}.hf_quant_config.json"
    return json.loads(path.read_text()) if path.exists() else None


# --- quantization_config blocks as the producers write them (reference/facts.md §1) ---
CT_NVFP4 = {  # llm-compressor scheme "NVFP4" (W4A4)
    "quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized", "quantization_status": "compressed",
    "version": "0.12.2", "ignore": ["lm_head"], "kv_cache_scheme": None,
    "config_groups": {"group_0": {
        "targets": ["Linear"], "format": "nvfp4-pack-quantized",
        "weights": {"num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16,
                    "symmetric": True, "dynamic": False, "observer": "static_minmax"},
        "input_activations": {"num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16,
                              "symmetric": True, "dynamic": "local", "observer": "static_minmax"}}},
}
MODELOPT_NVFP4_CONFIG = {  # ModelOpt ≥0.31 writes this flat form into config.json
    "quant_method": "modelopt", "quant_algo": "NVFP4", "producer": {"name": "modelopt", "version": "0.33.0"},
    "ignore": ["lm_head"], "kv_cache_scheme": {"dynamic": False, "num_bits": 8, "type": "float"},
    "config_groups": {"group_0": {"targets": ["Linear"],
                                  "weights": {"dynamic": False, "num_bits": 4, "type": "float", "group_size": 16},
                                  "input_activations": {"dynamic": False, "num_bits": 4, "type": "float",
                                                        "group_size": 16}}},
}
MODELOPT_NVFP4_HF_QUANT = {  # ...and keeps hf_quant_config.json for backward compatibility
    "producer": {"name": "modelopt", "version": "0.33.0"},
    "quantization": {"quant_algo": "NVFP4", "kv_cache_quant_algo": "FP8", "group_size": 16,
                     "exclude_modules": ["lm_head"]},
}
AWQ = {"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm", "zero_point": True,
       "modules_to_not_convert": ["gate"]}
MXFP4 = {"modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                    "model.embed_tokens", "lm_head"], "quant_method": "mxfp4"}


def with_quant(cfg: dict[str, Any], quant: dict[str, Any] | None) -> dict[str, Any]:
    cfg = copy.deepcopy(cfg)
    if quant is not None:
        cfg["quantization_config"] = copy.deepcopy(quant)
    return cfg


def shards(total_bytes: float, count: int) -> dict[str, int]:
    size = int(total_bytes) // count
    return {f"model-{i:05d}-of-{count:05d}.safetensors": size for i in range(1, count + 1)}


def deepseek_v3(model_type: str = "deepseek_v3") -> dict[str, Any]:
    # Assembled from DeepSeek-V3/R1's published dimensions (reference/facts.md §2.3), not a verbatim file.
    return {"architectures": ["DeepseekV3ForCausalLM"], "model_type": model_type, "hidden_size": 7168,
            "intermediate_size": 18432, "moe_intermediate_size": 2048, "num_hidden_layers": 61,
            "num_attention_heads": 128, "num_key_value_heads": 128, "n_shared_experts": 1, "n_routed_experts": 256,
            "num_experts_per_tok": 8, "first_k_dense_replace": 3, "moe_layer_freq": 1, "kv_lora_rank": 512,
            "q_lora_rank": 1536, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128,
            "vocab_size": 129280, "max_position_embeddings": 163840, "hidden_act": "silu", "n_group": 8,
            "topk_group": 4, "tie_word_embeddings": False, "torch_dtype": "bfloat16"}


def llama4_scout() -> dict[str, Any]:
    # Assembled from the text_config values in reference/facts.md §2.3 (a vLLM-plugin test and an issue).
    text = {"model_type": "llama4_text", "hidden_size": 5120, "intermediate_size": 8192,
            "intermediate_size_mlp": 16384, "num_hidden_layers": 48, "num_attention_heads": 40,
            "num_key_value_heads": 8, "head_dim": 128, "num_local_experts": 16, "num_experts_per_tok": 1,
            "interleave_moe_layer_step": 1, "vocab_size": 202048, "max_position_embeddings": 10485760,
            "attention_chunk_size": 8192, "no_rope_layers": [1, 1, 1, 0] * 12, "hidden_act": "silu",
            "use_qk_norm": True, "rope_theta": 500000.0, "torch_dtype": "bfloat16"}
    return {"architectures": ["Llama4ForConditionalGeneration"], "model_type": "llama4", "text_config": text,
            "vision_config": {"model_type": "llama4_vision_model", "hidden_size": 1408, "num_hidden_layers": 34}}


def qwen3_vl_moe(layers: int, heads: int, kv: int, hidden: int, moe_inter: int) -> dict[str, Any]:
    # Assembled: Qwen3-VL-MoE nesting (as Qwen3-VL-4B's verbatim config) with Qwen3-MoE text dimensions.
    text = {"model_type": "qwen3_vl_moe_text", "hidden_size": hidden, "intermediate_size": moe_inter * 8,
            "moe_intermediate_size": moe_inter, "num_hidden_layers": layers, "num_attention_heads": heads,
            "num_key_value_heads": kv, "head_dim": 128, "num_experts": 128, "num_experts_per_tok": 8,
            "decoder_sparse_step": 1, "mlp_only_layers": [], "vocab_size": 151936,
            "max_position_embeddings": 262144, "hidden_act": "silu", "tie_word_embeddings": False,
            "dtype": "bfloat16"}
    return {"architectures": ["Qwen3VLMoeForConditionalGeneration"], "model_type": "qwen3_vl_moe",
            "text_config": text, "vision_config": {"model_type": "qwen3_vl_moe", "depth": 27, "hidden_size": 1152}}


def minimax_m2() -> dict[str, Any]:
    # Assembled from MiniMaxM2Config defaults (reference/facts.md §2.3); architectures string not verified.
    return {"architectures": ["MiniMaxM2ForCausalLM"], "model_type": "minimax_m2", "hidden_size": 3072,
            "intermediate_size": 1536, "num_hidden_layers": 62, "num_attention_heads": 48,
            "num_key_value_heads": 8, "head_dim": 128, "num_local_experts": 256, "num_experts_per_tok": 8,
            "vocab_size": 200064, "max_position_embeddings": 196608, "hidden_act": "silu",
            "tie_word_embeddings": False, "torch_dtype": "bfloat16"}


def gpt_oss_20b() -> dict[str, Any]:
    # The partial config plus the alternating layer_types and 128-token window gpt-oss uses (facts.md §2.2).
    cfg = config("openai__gpt-oss-20b.PARTIAL")
    cfg["layer_types"] = ["sliding_attention", "full_attention"] * 12
    cfg["sliding_window"] = 128
    cfg["hidden_act"] = "silu"
    return with_quant(cfg, MXFP4)


def gpt_oss_120b() -> dict[str, Any]:
    # gpt-oss-120b's dimensions from reference/facts.md §2.3 (36 layers, 18 sliding + 18 full, 128 experts top-4).
    cfg = gpt_oss_20b()
    cfg.update(num_hidden_layers=36, num_local_experts=128, layer_types=["sliding_attention", "full_attention"] * 18)
    return cfg


def llama_405b() -> dict[str, Any]:
    # Assembled from Llama-3.1-405B's published dimensions; not a verbatim file.
    cfg = config("meta-llama__Llama-3.1-8B")
    cfg.update(hidden_size=16384, intermediate_size=53248, num_attention_heads=128, num_hidden_layers=126,
               num_key_value_heads=8)
    return cfg


def repos() -> dict[str, dict[str, Any]]:
    """repo id → {config, hf_quant_config?, files: {path: size}, gated?, private?, ...}."""
    qwen8 = config("Qwen__Qwen3-8B")
    return {
        # Seed guide: vLLM-compatible compressed-tensors NVFP4 (RedHatAI)
        "RedHatAI/Qwen3-8B-NVFP4": dict(config=with_quant(qwen8, CT_NVFP4), files=shards(6.3 * GB, 2),
                                        downloads=81234, likes=41, license="apache-2.0"),
        "RedHatAI/Qwen3-32B-NVFP4": dict(config=with_quant(config("Qwen__Qwen3-32B"), CT_NVFP4),
                                         files=shards(20.5 * GB, 5), downloads=40211, likes=30,
                                         license="apache-2.0"),
        "RedHatAI/Qwen3-30B-A3B-NVFP4": dict(config=with_quant(config("Qwen__Qwen3-30B-A3B"), CT_NVFP4),
                                             files=shards(18.1 * GB, 4), downloads=55120, likes=38,
                                             license="apache-2.0"),
        "RedHatAI/Llama-4-Scout-17B-16E-Instruct-NVFP4": dict(config=with_quant(llama4_scout(), CT_NVFP4),
                                                              files=shards(61.0 * GB, 13), license="other"),
        "RedHatAI/Qwen3-VL-235B-A22B-Instruct-NVFP4": dict(
            config=with_quant(qwen3_vl_moe(94, 64, 4, 4096, 1536), CT_NVFP4), files=shards(134 * GB, 27),
            license="apache-2.0"),
        "Firworks/NVIDIA-Nemotron-3-Nano-30B-A3B-nvfp4": dict(
            config=with_quant(config("nvidia__Nemotron-3-Nano-30B-A3B"), CT_NVFP4), files=shards(18.6 * GB, 4),
            license="other"),
        # Seed guide: TensorRT-LLM / ModelOpt NVFP4 (nvidia)
        "nvidia/Llama-3.3-70B-Instruct-NVFP4": dict(
            config=with_quant(config("meta-llama__Llama-3.3-70B-Instruct"), MODELOPT_NVFP4_CONFIG),
            hf_quant_config=MODELOPT_NVFP4_HF_QUANT, files=shards(40.6 * GB, 9), license="llama3.3"),
        "nvidia/Qwen3-32B-NVFP4": dict(config=config("Qwen__Qwen3-32B"), hf_quant_config=MODELOPT_NVFP4_HF_QUANT,
                                       files=shards(20.6 * GB, 5), license="apache-2.0"),
        "nvidia/Llama-3.1-405B-Instruct-NVFP4": dict(config=with_quant(llama_405b(), MODELOPT_NVFP4_CONFIG),
                                                     hf_quant_config=MODELOPT_NVFP4_HF_QUANT,
                                                     files=shards(233 * GB, 48), license="llama3.1"),
        "nvidia/DeepSeek-R1-NVFP4": dict(config=with_quant(deepseek_v3(), MODELOPT_NVFP4_CONFIG),
                                         hf_quant_config=MODELOPT_NVFP4_HF_QUANT, files=shards(395 * GB, 80),
                                         license="mit"),
        "nvidia/DeepSeek-V3.2-NVFP4": dict(config=with_quant(deepseek_v3("deepseek_v32"), MODELOPT_NVFP4_CONFIG),
                                           hf_quant_config=MODELOPT_NVFP4_HF_QUANT, files=shards(395 * GB, 80),
                                           license="mit"),
        # Seed guide: AWQ recommendations
        "QuantTrio/MiniMax-M2-AWQ": dict(config=with_quant(minimax_m2(), AWQ), files=shards(125 * GB, 26),
                                         license="mit"),
        "QuantTrio/Qwen3-VL-30B-A3B-Instruct-AWQ": dict(config=with_quant(qwen3_vl_moe(48, 32, 4, 2048, 768), AWQ),
                                                        files=shards(17.5 * GB, 4), license="apache-2.0"),
        # MXFP4
        "openai/gpt-oss-20b": dict(config=gpt_oss_20b(), files=shards(13.8 * GB, 3), license="apache-2.0",
                                   downloads=5_100_000, likes=3900),
        "openai/gpt-oss-120b": dict(config=gpt_oss_120b(), files=shards(65.3 * GB, 15), license="apache-2.0",
                                    downloads=3_200_000, likes=4200),
        # Unquantized, gated, private, GGUF-only and broken repos for the error paths
        "Qwen/Qwen3-8B": dict(config=qwen8, files=shards(16.4 * GB, 5), license="apache-2.0",
                              safetensors={"parameters": {"BF16": 8_190_735_360}, "total": 8_190_735_360}),
        "meta-llama/Llama-3.1-8B": dict(config=config("meta-llama__Llama-3.1-8B"), files=shards(16.1 * GB, 4),
                                        gated="manual", license="llama3.1"),
        "acme/private-model": dict(config=qwen8, files=shards(16.4 * GB, 5), private=True),
        # GGUF files start with a real header (written by gguf's GGUFWriter), then synthetic bytes to the real size
        "unsloth/Qwen3-8B-GGUF": dict(config=None, files={
            "Qwen3-8B-Q4_K_M.gguf": (gguf_files.qwen3_8b_head("Q4_K_M"), 5_027_783_488),
            "Qwen3-8B-Q8_0.gguf": (gguf_files.qwen3_8b_head("Q8_0"), 8_709_519_168)}),
        "broken/bad-config": dict(config_text='{"model_type": "qwen3", "num_hidden_layers": 36,,}',
                                  files=shards(1 * GB, 1)),
        "broken/missing-fields": dict(config={"model_type": "mystery"}, files=shards(1 * GB, 1)),
        "weird/unknown-quant": dict(config=with_quant(qwen8, {"quant_method": "hqq", "nbits": 4}),
                                    files=shards(5 * GB, 1)),
        # gpt-oss as an MXFP4 GGUF (llama.cpp's native MXFP4 kernels) and a block-scaled FP8 MoE (TRT-LLM #17126).
        # Parameter counts: the gpt-oss model card (arXiv 2508.10925): 20.9B and 116.8B total.
        "ggml-org/gpt-oss-20b-GGUF": dict(config=None, files={"gpt-oss-20b-mxfp4.gguf": (
            gguf_files.gguf_head("gpt-oss", gguf_files.GPT_OSS_20B, 38, params=20_900_000_000), int(12.1 * GB))},
                                          license="apache-2.0"),
        # Split in three as ggml-org publishes it (gpt-oss-120b-mxfp4-0000N-of-00003.gguf; each part is a GGUF file
        # with its own header); the part sizes are synthetic, their sum is llama.cpp's figure for the model
        # (59.02 GiB, benches/dgx-spark.md).
        "ggml-org/gpt-oss-120b-GGUF": dict(config=None, files={
            f"gpt-oss-120b-mxfp4-0000{i}-of-00003.gguf": (
                gguf_files.gguf_head("gpt-oss", gguf_files.GPT_OSS_120B, 38, params=116_800_000_000 // 3),
                int(59.02 * GIB) // 3 + (int(59.02 * GIB) % 3 if i == 3 else 0)) for i in (1, 2, 3)},
            license="apache-2.0"),
        "Qwen/Qwen3-30B-A3B-FP8": dict(config=with_quant(config("Qwen__Qwen3-30B-A3B"), {
            "quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic", "weight_block_size": [128, 128]}),
            files=shards(31 * GB, 7), license="apache-2.0"),
        # Version-dependent vLLM advice (issue 10). The quantization blocks are the producers' documented forms
        # (ModelOpt's flat NVFP4 block; Qwen's block-FP8 block), not these repos' verbatim files.
        "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4": dict(
            config=with_quant(config("nvidia__Nemotron-3-Nano-30B-A3B"), MODELOPT_NVFP4_CONFIG),
            hf_quant_config=MODELOPT_NVFP4_HF_QUANT, files=shards(18.6 * GB, 4), license="other"),
    }
