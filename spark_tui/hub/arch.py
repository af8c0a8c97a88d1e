"""Read a model's architecture out of config.json (pure functions over plain dicts).

Field spellings follow what vLLM reads from `hf_text_config` (see vLLM's ModelConfig):
expert counts under four names, MLA latent sizes, sliding-window and hybrid layer layouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Sub-configs that hold the language model in multimodal checkpoints (vLLM's hf_text_config).
_TEXT_KEYS = ("text_config", "llm_config", "language_config")
# Models whose DeepSeek-style kv_lora_rank means vLLM uses MLA.
MLA_MODEL_TYPES = {"deepseek_v2", "deepseek_v3", "deepseek_v32", "deepseek_mtp", "kimi_k2", "kimi_linear"}
_EXPERT_COUNT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
_TOPK_KEYS = ("num_experts_per_tok", "experts_per_token", "moe_topk", "num_experts_per_token")
# Expert activations without a gate (is_act_and_mul=False in vLLM's fused MoE).
NON_GATED_ACTIVATIONS = {"relu2", "relu_squared", "squared_relu"}
GATED_ACTIVATIONS = {"silu", "swish", "swiglu", "gelu", "gelu_new", "gelu_pytorch_tanh", "geglu"}


def as_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def text_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The language-model part of a config: nested for multimodal models, else the config itself."""
    for key in _TEXT_KEYS:
        sub = cfg.get(key)
        if isinstance(sub, dict) and sub:
            return sub
    thinker = cfg.get("thinker_config")
    if isinstance(thinker, dict) and isinstance(thinker.get("text_config"), dict):
        return thinker["text_config"]
    return cfg


def is_multimodal(cfg: dict[str, Any]) -> bool:
    return any(isinstance(cfg.get(k), dict) for k in ("vision_config", "audio_config", "thinker_config"))


def max_context(text: dict[str, Any], cfg: dict[str, Any]) -> int | None:
    for source in (text, cfg):
        for key in ("max_position_embeddings", "max_sequence_length", "seq_length", "n_positions"):
            value = as_int(source.get(key))
            if value:
                return value
    return None


@dataclass(frozen=True)
class AttentionLayout:
    """How many layers of each kind, and what one token of KV cache costs in each."""

    kind: str  # mha, gqa, mqa, mla
    num_layers: int  # all decoder layers (mamba and MoE blocks included for hybrids)
    full_layers: int  # full-attention layers (hold the whole context)
    sliding_layers: int  # sliding-window or chunked-local layers
    sliding_window: int | None
    mamba_layers: int  # recurrent (Mamba/linear-attention) layers: constant state, no KV per token
    num_attention_heads: int | None
    num_kv_heads: int | None
    head_dim: int | None
    head_dim_v: int | None
    mla_latent: int | None  # kv_lora_rank + qk_rope_head_dim for MLA (576 for DeepSeek-V3)

    @property
    def attention_layers(self) -> int:
        return self.full_layers + self.sliding_layers


def _head_dim(text: dict[str, Any]) -> int | None:
    explicit = as_int(text.get("head_dim"))
    if explicit:
        return explicit
    hidden = as_int(text.get("hidden_size"))
    heads = as_int(text.get("num_attention_heads"))
    if hidden and heads:
        return hidden // heads
    return None


def _kv_heads(text: dict[str, Any]) -> int | None:
    kv_keys = ("n_head_kv", "num_kv_heads", "num_key_value_heads", "multi_query_group_num")
    return _first_int(text, kv_keys) or as_int(text.get("num_attention_heads"))


def attention_layout(text: dict[str, Any]) -> AttentionLayout | None:
    layers = as_int(text.get("num_hidden_layers") or text.get("num_layers") or text.get("n_layer"))
    pattern = text.get("hybrid_override_pattern")
    if isinstance(pattern, str) and pattern:
        layers = len(pattern)
    if not layers:
        return None
    heads = as_int(text.get("num_attention_heads"))
    kv_heads = _kv_heads(text)
    head_dim = _head_dim(text)
    model_type = text.get("model_type")
    kv_lora = as_int(text.get("kv_lora_rank"))
    if model_type in MLA_MODEL_TYPES and kv_lora:
        latent = kv_lora + (as_int(text.get("qk_rope_head_dim")) or 0)
        return AttentionLayout("mla", layers, layers, 0, None, 0, heads, 1, latent, None, latent)

    full, sliding, mamba = layers, 0, 0
    window = as_int(text.get("sliding_window"))
    layer_types = text.get("layer_types")
    if isinstance(pattern, str) and pattern:
        # Nemotron-H: '*' attention, 'M' Mamba, 'E' MoE, '-' MLP; each character is one block.
        full, mamba = pattern.count("*"), pattern.count("M")
    elif isinstance(layer_types, list) and layer_types:
        full = sum(1 for t in layer_types if t in ("full_attention", "attention", "global_attention"))
        sliding = sum(1 for t in layer_types if t in ("sliding_attention", "chunked_attention", "local_attention"))
        mamba = len(layer_types) - full - sliding
    elif as_int(text.get("full_attention_interval")):
        interval = as_int(text.get("full_attention_interval")) or 1
        full = layers // interval
        mamba = layers - full
    elif as_int(text.get("attention_chunk_size")):
        # Llama-4: chunked local attention on RoPE layers; no_rope_layers marks them with 1.
        window = as_int(text.get("attention_chunk_size"))
        no_rope = text.get("no_rope_layers")
        if isinstance(no_rope, list) and len(no_rope) == layers:
            sliding = sum(1 for v in no_rope if v)
        else:
            step = as_int(text.get("no_rope_layer_interval")) or 4
            sliding = layers - layers // step
        full = layers - sliding
    elif window and text.get("use_sliding_window") is not False and model_type not in ("qwen2", "qwen3", "qwen3_moe"):
        pattern_every = as_int(text.get("sliding_window_pattern"))
        if pattern_every:
            full = layers // pattern_every
            sliding = layers - full
        else:
            full, sliding = 0, layers
    if not sliding:
        window = None
    if kv_heads and heads and kv_heads == heads:
        kind = "mha"
    elif kv_heads == 1:
        kind = "mqa"
    else:
        kind = "gqa"
    head_dim_v = as_int(text.get("v_head_dim")) or head_dim
    return AttentionLayout(kind, layers, full, sliding, window, mamba, heads, kv_heads, head_dim, head_dim_v, None)


@dataclass(frozen=True)
class MoeInfo:
    is_moe: bool
    num_experts: int | None
    experts_per_token: int | None
    shared_experts: int
    gated: bool | None
    activation: str | None


def _first_int(text: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    """The first of several spellings of a field that holds a positive integer."""
    return next((v for v in (as_int(text.get(k)) for k in keys) if v), None)


def moe_info(text: dict[str, Any]) -> MoeInfo:
    experts = _first_int(text, _EXPERT_COUNT_KEYS)
    topk = _first_int(text, _TOPK_KEYS)
    activation = text.get("mlp_hidden_act") or text.get("hidden_act") or text.get("hidden_activation")
    gated: bool | None
    if isinstance(activation, str) and activation.lower() in NON_GATED_ACTIVATIONS:
        gated = False
    elif isinstance(activation, str) and activation.lower() in GATED_ACTIVATIONS:
        gated = True
    elif text.get("model_type") == "gpt_oss":
        gated, activation = True, "swiglu"  # gpt-oss experts: fused gate_up_proj with a clamped SwiGLU
    else:
        gated = None
    shared = as_int(text.get("n_shared_experts")) or (1 if text.get("shared_expert_intermediate_size") else 0)
    return MoeInfo(bool(experts and experts > 1), experts, topk, shared, gated, activation)
