"""Parameter counts (total, and active per token for MoE) from the architecture.

Counted from the config rather than from the safetensors listing, because quantized
checkpoints store packed elements (two FP4 values per byte) and the Hub's element count
then says nothing about the real parameter count. Norms and biases are ignored (<0.1 %).
Vision/audio towers of multimodal models are not counted: the figures are the language model's.
"""

from __future__ import annotations

from dataclasses import dataclass

from spark_tui.hub.arch import AttentionLayout, MoeInfo, hybrid_pattern
from spark_tui.hub.config_values import MAX_LAYERS, MAX_VOCAB, MAX_WIDTH, Fields


@dataclass(frozen=True)
class ParamCount:
    total: int
    active: int


def _attention_params(text: Fields, layout: AttentionLayout, hidden: int) -> int | None:
    heads = layout.num_attention_heads
    if not heads:
        return None
    if layout.kind == "mla":
        q_lora = text.width("q_lora_rank") or 0
        nope = text.width("qk_nope_head_dim") or 0
        rope = text.width("qk_rope_head_dim") or 0
        v_dim = text.width("v_head_dim") or nope
        kv_lora = text.width("kv_lora_rank") or 0
        q = hidden * q_lora + q_lora * heads * (nope + rope) if q_lora else hidden * heads * (nope + rope)
        kv = hidden * (kv_lora + rope) + kv_lora * heads * (nope + v_dim)
        return q + kv + heads * v_dim * hidden
    if not layout.head_dim:
        return None  # head_dim was absurd or hidden_size did not split into the heads: already a problem
    head_dim = layout.head_dim
    kv = layout.num_kv_heads or heads
    return hidden * heads * head_dim * 2 + hidden * kv * head_dim * 2


def _mamba_params(text: Fields, hidden: int) -> int:
    heads = text.width("mamba_num_heads") or 0
    head_dim = text.width("mamba_head_dim") or 0
    inner = heads * head_dim or (text.width("expand") or 2) * hidden
    groups = text.width("n_groups") or 1
    state = text.width("ssm_state_size") or 0
    kernel = text.width("conv_kernel") or 4
    in_proj = hidden * (2 * inner + 2 * groups * state + heads)
    conv = (inner + 2 * groups * state) * kernel
    return in_proj + conv + inner * hidden


def _moe_layer_flags(text: Fields, layers: int) -> list[bool]:
    """Which decoder layers hold experts, by each family's spelling of the schedule (layers ≤ MAX_LAYERS)."""
    first_dense = text.integer("first_k_dense_replace", low=0, high=MAX_LAYERS)
    if first_dense is not None:
        freq = text.integer("moe_layer_freq", high=MAX_LAYERS) or 1
        return [i >= first_dense and i % freq == 0 for i in range(layers)]
    moe_layers = text.ints("moe_layers", low=0, high=MAX_LAYERS, max_len=MAX_LAYERS)
    if moe_layers:
        listed = set(moe_layers)
        return [i in listed for i in range(layers)]
    step = text.integer("interleave_moe_layer_step", high=MAX_LAYERS)
    if step:
        return [(i + 1) % step == 0 for i in range(layers)]
    sparse_step = text.integer("decoder_sparse_step", high=MAX_LAYERS)
    only_mlp = set(text.ints("mlp_only_layers", low=0, high=MAX_LAYERS, max_len=MAX_LAYERS) or [])
    if sparse_step:
        return [i not in only_mlp and (i + 1) % sparse_step == 0 for i in range(layers)]
    return [True] * layers


def count(text: Fields, layout: AttentionLayout | None, moe: MoeInfo | None) -> ParamCount | None:
    hidden = text.integer("hidden_size", high=MAX_WIDTH)
    vocab = text.integer("vocab_size", high=MAX_VOCAB)
    if not (layout and hidden and vocab):
        return None
    attn = _attention_params(text, layout, hidden)
    if attn is None:
        return None
    gated = moe.gated if moe and moe.gated is not None else True
    mats = 3 if gated else 2  # gate+up+down, or up+down
    dense_inter = text.width("intermediate_size_mlp", "intermediate_size") or 0
    dense_mlp = mats * hidden * dense_inter
    embed = vocab * hidden
    lm_head = 0 if text.flag("tie_word_embeddings") else vocab * hidden

    expert_inter = text.width("moe_intermediate_size", "intermediate_size") or 0
    expert = mats * hidden * expert_inter
    shared_inter = text.width("moe_shared_expert_intermediate_size", "shared_expert_intermediate_size") or expert_inter
    shared = (moe.shared_experts if moe else 0) * mats * hidden * shared_inter
    if text.text("model_type") in ("llama4", "llama4_text"):
        shared = mats * hidden * expert_inter  # Llama-4: one shared expert per MoE layer

    is_moe = bool(moe and moe.is_moe and moe.num_experts)
    n_experts = (moe.num_experts or 0) if is_moe and moe else 0
    topk = (moe.experts_per_token if moe else None) or 1
    router = hidden * n_experts

    total = embed + lm_head
    active = embed + lm_head
    pattern = hybrid_pattern(text)
    if pattern:
        mamba = _mamba_params(text, hidden)
        blocks = {
            "*": (attn, attn),
            "M": (mamba, mamba),
            "E": (n_experts * expert + router + shared, topk * expert + router + shared),
            "-": (dense_mlp, dense_mlp),  # plain MLP
        }
        for char in pattern:
            layer_total, layer_active = blocks[char]
            total += layer_total
            active += layer_active
        return ParamCount(total, active)

    flags = _moe_layer_flags(text, layout.num_layers) if is_moe else [False] * layout.num_layers
    for has_experts in flags:
        if has_experts:
            total += attn + n_experts * expert + router + shared
            active += attn + topk * expert + router + shared
        else:
            total += attn + dense_mlp
            active += attn + dense_mlp
    return ParamCount(total, active)
