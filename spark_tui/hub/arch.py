"""Read a model's architecture out of config.json (pure functions; values read typed and bounded).

Field spellings follow what vLLM reads from `hf_text_config` (see vLLM's ModelConfig):
expert counts under four names, MLA latent sizes, sliding-window and hybrid layer layouts.
"""

from __future__ import annotations

from dataclasses import dataclass

from spark_tui.hub.config_values import MAX_CONTEXT, MAX_EXPERTS, MAX_HEADS, MAX_LAYERS, MAX_WIDTH, Fields, show

# Sub-configs that hold the language model in multimodal checkpoints (vLLM's hf_text_config).
_TEXT_KEYS = ("text_config", "llm_config", "language_config")
# Models whose DeepSeek-style kv_lora_rank means vLLM uses MLA.
MLA_MODEL_TYPES = {"deepseek_v2", "deepseek_v3", "deepseek_v32", "deepseek_mtp", "kimi_k2", "kimi_linear"}
_EXPERT_COUNT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
_TOPK_KEYS = ("num_experts_per_tok", "experts_per_token", "moe_topk", "num_experts_per_token")
_LAYER_KEYS = ("num_hidden_layers", "num_layers", "n_layer")
_KV_HEAD_KEYS = ("n_head_kv", "num_kv_heads", "num_key_value_heads", "multi_query_group_num")
_CONTEXT_KEYS = ("max_position_embeddings", "max_sequence_length", "seq_length", "n_positions")
_HYBRID_BLOCKS = set("*ME-")  # Nemotron-H: '*' attention, 'M' Mamba, 'E' MoE, '-' MLP
# Expert activations without a gate (is_act_and_mul=False in vLLM's fused MoE).
NON_GATED_ACTIVATIONS = {"relu2", "relu_squared", "squared_relu"}
GATED_ACTIVATIONS = {"silu", "swish", "swiglu", "gelu", "gelu_new", "gelu_pytorch_tanh", "geglu"}


def text_config(cfg: Fields) -> Fields:
    """The language-model part of a config: nested for multimodal models, else the config itself."""
    for key in _TEXT_KEYS:
        sub = cfg.sub(key)
        if sub:
            return sub
    thinker = cfg.sub("thinker_config")
    text = thinker.sub("text_config") if thinker else None
    return text if text else cfg


def is_multimodal(cfg: Fields) -> bool:
    return any(cfg.sub(k) is not None for k in ("vision_config", "audio_config", "thinker_config"))


def max_context(text: Fields, cfg: Fields) -> int | None:
    for source in (text, cfg):
        value = source.first_int(_CONTEXT_KEYS, high=MAX_CONTEXT)
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


def _head_dim(text: Fields, heads: int | None) -> int | None:
    explicit = text.integer("head_dim", high=MAX_WIDTH)
    if explicit or text.present("head_dim"):
        return explicit
    hidden = text.integer("hidden_size", high=MAX_WIDTH)
    if not (hidden and heads):
        return None
    if hidden % heads:
        # Without head_dim the heads split hidden_size evenly; a remainder means a broken config.
        text.problem(f"{text.name('hidden_size')} {hidden} is not a multiple of "
                     f"{text.name('num_attention_heads')} {heads}")
        return None
    return hidden // heads


def _kv_heads(text: Fields, heads: int | None) -> int | None:
    key = text.first_key(_KV_HEAD_KEYS)
    if key is None:
        return heads  # no grouping declared: one KV head per query head (MHA)
    kv_heads = text.integer(key, high=MAX_HEADS)
    if kv_heads and heads and heads % kv_heads:
        # Grouped-query attention shares each KV head among a whole number of query heads.
        text.problem(f"{text.name('num_attention_heads')} {heads} is not a multiple of {text.name(key)} {kv_heads}")
        return None
    return kv_heads


def hybrid_pattern(text: Fields) -> str | None:
    pattern = text.text("hybrid_override_pattern", max_len=MAX_LAYERS)
    unknown = sorted(set(pattern or "") - _HYBRID_BLOCKS)
    if pattern and unknown:
        text.problem(f"{text.name('hybrid_override_pattern')} has block types spark-tui does not know: "
                     f"{show(''.join(unknown)[:10])}")
        return None
    return pattern or None


def attention_layout(text: Fields) -> AttentionLayout | None:
    layers = text.first_int(_LAYER_KEYS, high=MAX_LAYERS)
    pattern = hybrid_pattern(text)
    if pattern:
        layers = len(pattern)
    if not layers:
        return None
    heads = text.integer("num_attention_heads", high=MAX_HEADS)
    model_type = text.text("model_type")
    kv_lora = text.integer("kv_lora_rank", high=MAX_WIDTH)
    if model_type in MLA_MODEL_TYPES and kv_lora:
        latent = kv_lora + (text.integer("qk_rope_head_dim", low=0, high=MAX_WIDTH) or 0)
        return AttentionLayout("mla", layers, layers, 0, None, 0, heads, 1, latent, None, latent)
    kv_heads = _kv_heads(text, heads)
    head_dim = _head_dim(text, heads)

    full, sliding, mamba = layers, 0, 0
    window = text.integer("sliding_window", high=MAX_CONTEXT)
    layer_types = text.texts("layer_types", max_len=MAX_LAYERS)
    interval = text.integer("full_attention_interval", high=MAX_LAYERS)
    chunk = text.integer("attention_chunk_size", high=MAX_CONTEXT)
    if pattern:
        full, mamba = pattern.count("*"), pattern.count("M")
    elif layer_types:
        if len(layer_types) != layers:
            text.problem(f"{text.name('layer_types')} has {len(layer_types):,} entries for {layers} layers")
            return None
        full = sum(1 for t in layer_types if t in ("full_attention", "attention", "global_attention"))
        sliding = sum(1 for t in layer_types if t in ("sliding_attention", "chunked_attention", "local_attention"))
        mamba = len(layer_types) - full - sliding
    elif interval:
        full = layers // interval
        mamba = layers - full
    elif chunk:
        # Llama-4: chunked local attention on RoPE layers; no_rope_layers marks them with 1.
        window = chunk
        no_rope = text.ints("no_rope_layers", low=0, high=1, max_len=MAX_LAYERS)
        if no_rope is not None and len(no_rope) == layers:
            sliding = sum(no_rope)
        else:
            step = text.integer("no_rope_layer_interval", high=MAX_LAYERS) or 4
            sliding = layers - layers // step
        full = layers - sliding
    elif window and text.flag("use_sliding_window") is not False and model_type not in ("qwen2", "qwen3", "qwen3_moe"):
        pattern_every = text.integer("sliding_window_pattern", high=MAX_LAYERS)
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
    head_dim_v = text.integer("v_head_dim", high=MAX_WIDTH) or head_dim
    return AttentionLayout(kind, layers, full, sliding, window, mamba, heads, kv_heads, head_dim, head_dim_v, None)


@dataclass(frozen=True)
class MoeInfo:
    """Mixture-of-experts shape: experts, how many are active, their size."""

    is_moe: bool
    num_experts: int | None
    experts_per_token: int | None
    shared_experts: int
    gated: bool | None
    activation: str | None


def moe_info(text: Fields) -> MoeInfo:
    # 0 experts is how some dense configs say "no MoE", so 0 is allowed here.
    experts = text.first_int(_EXPERT_COUNT_KEYS, low=0, high=MAX_EXPERTS)
    topk_key = text.first_key(_TOPK_KEYS)
    topk = text.integer(topk_key, low=0, high=experts or MAX_EXPERTS) if topk_key else None  # never more than exist
    activation = text.text("mlp_hidden_act") or text.text("hidden_act") or text.text("hidden_activation")
    gated: bool | None
    if activation and activation.lower() in NON_GATED_ACTIVATIONS:
        gated = False
    elif activation and activation.lower() in GATED_ACTIVATIONS:
        gated = True
    elif text.text("model_type") == "gpt_oss":
        gated, activation = True, "swiglu"  # gpt-oss experts: fused gate_up_proj with a clamped SwiGLU
    else:
        gated = None
    shared = text.integer("n_shared_experts", low=0, high=MAX_EXPERTS)
    if shared is None:
        shared = 1 if text.integer("shared_expert_intermediate_size", low=0, high=MAX_WIDTH) else 0
    return MoeInfo(bool(experts and experts > 1), experts, topk, shared, gated, activation)
