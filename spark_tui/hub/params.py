"""Parameter counts (total, and active per token for MoE) from the architecture.

Counted from the config rather than from the safetensors listing, because quantized
checkpoints store packed elements (two FP4 values per byte) and the Hub's element count
then says nothing about the real parameter count. Norms and biases are ignored (<0.1 %).
Vision/audio towers of multimodal models are not counted: the figures are the language model's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spark_tui.hub.arch import AttentionLayout, MoeInfo, as_int


@dataclass(frozen=True)
class ParamCount:
    total: int
    active: int


def _attention_params(text: dict[str, Any], layout: AttentionLayout, hidden: int) -> int | None:
    heads = layout.num_attention_heads
    if not heads:
        return None
    if layout.kind == "mla":
        q_lora = as_int(text.get("q_lora_rank"))
        nope = as_int(text.get("qk_nope_head_dim")) or 0
        rope = as_int(text.get("qk_rope_head_dim")) or 0
        v_dim = as_int(text.get("v_head_dim")) or nope
        kv_lora = as_int(text.get("kv_lora_rank")) or 0
        q = hidden * q_lora + q_lora * heads * (nope + rope) if q_lora else hidden * heads * (nope + rope)
        kv = hidden * (kv_lora + rope) + kv_lora * heads * (nope + v_dim)
        return q + kv + heads * v_dim * hidden
    head_dim = layout.head_dim or hidden // heads
    kv = layout.num_kv_heads or heads
    return hidden * heads * head_dim * 2 + hidden * kv * head_dim * 2


def _mamba_params(text: dict[str, Any], hidden: int) -> int:
    heads = as_int(text.get("mamba_num_heads")) or 0
    head_dim = as_int(text.get("mamba_head_dim")) or 0
    inner = heads * head_dim or (as_int(text.get("expand")) or 2) * hidden
    groups = as_int(text.get("n_groups")) or 1
    state = as_int(text.get("ssm_state_size")) or 0
    kernel = as_int(text.get("conv_kernel")) or 4
    in_proj = hidden * (2 * inner + 2 * groups * state + heads)
    conv = (inner + 2 * groups * state) * kernel
    return in_proj + conv + inner * hidden


def _moe_layer_flags(text: dict[str, Any], layers: int) -> list[bool]:
    """Which decoder layers hold experts, by each family's spelling of the schedule."""
    first_dense = as_int(text.get("first_k_dense_replace"))
    if first_dense is not None:
        freq = as_int(text.get("moe_layer_freq")) or 1
        return [i >= first_dense and i % freq == 0 for i in range(layers)]
    moe_layers = text.get("moe_layers")
    if isinstance(moe_layers, list) and moe_layers:
        return [i in set(moe_layers) for i in range(layers)]
    step = as_int(text.get("interleave_moe_layer_step"))
    if step:
        return [(i + 1) % step == 0 for i in range(layers)]
    sparse_step = as_int(text.get("decoder_sparse_step"))
    only_mlp = set(text.get("mlp_only_layers") or [])
    if sparse_step:
        return [i not in only_mlp and (i + 1) % sparse_step == 0 for i in range(layers)]
    return [True] * layers


def count(text: dict[str, Any], layout: AttentionLayout | None, moe: MoeInfo | None) -> ParamCount | None:
    hidden = as_int(text.get("hidden_size"))
    vocab = as_int(text.get("vocab_size"))
    if not (layout and hidden and vocab):
        return None
    attn = _attention_params(text, layout, hidden)
    if attn is None:
        return None
    gated = moe.gated if moe and moe.gated is not None else True
    mats = 3 if gated else 2  # gate+up+down, or up+down
    dense_inter = as_int(text.get("intermediate_size_mlp")) or as_int(text.get("intermediate_size")) or 0
    dense_mlp = mats * hidden * dense_inter
    embed = vocab * hidden
    lm_head = 0 if text.get("tie_word_embeddings") else vocab * hidden

    expert_inter = as_int(text.get("moe_intermediate_size")) or as_int(text.get("intermediate_size")) or 0
    expert = mats * hidden * expert_inter
    shared_inter = (
        as_int(text.get("moe_shared_expert_intermediate_size"))
        or as_int(text.get("shared_expert_intermediate_size"))
        or expert_inter
    )
    shared = (moe.shared_experts if moe else 0) * mats * hidden * shared_inter
    if text.get("model_type") in ("llama4", "llama4_text"):
        shared = mats * hidden * expert_inter  # Llama-4: one shared expert per MoE layer

    is_moe = bool(moe and moe.is_moe and moe.num_experts)
    n_experts = (moe.num_experts or 0) if is_moe and moe else 0
    topk = (moe.experts_per_token if moe else None) or 1
    router = hidden * n_experts

    total = embed + lm_head
    active = embed + lm_head
    pattern = text.get("hybrid_override_pattern")
    if isinstance(pattern, str) and pattern:
        for char in pattern:
            if char == "*":
                layer_total = layer_active = attn
            elif char == "M":
                layer_total = layer_active = _mamba_params(text, hidden)
            elif char == "E":
                layer_total = n_experts * expert + router + shared
                layer_active = topk * expert + router + shared
            else:  # '-' plain MLP
                layer_total = layer_active = dense_mlp
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
