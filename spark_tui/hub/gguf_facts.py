"""ModelFacts for a GGUF model, from the header of its chosen variant: the same facts config.json gives for a
safetensors checkpoint (attention layout, layers, experts, context), so the advisor works unchanged.

Key names are gguf-py's `Keys` (`{arch}.block_count`, `{arch}.attention.head_count_kv`, …); where a key is absent,
llama.cpp's own defaults apply (src/llama-model.cpp / llama-hparams: n_head_kv = n_head, head size
n_embd / n_head, value length = key length; the sliding-window layer pattern per architecture: gemma2 2,
gemma3 6, gpt-oss 2, cohere2 4 — a layer il is SWA iff il % n < n - 1, `llama_hparams::set_swa_pattern`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from spark_tui.hub.arch import AttentionLayout
from spark_tui.hub.config_values import MAX_WIDTH, Fields
from spark_tui.hub.facts import ModelFacts
from spark_tui.hub.gguf import GGUFVariant, file_type_name
from spark_tui.hub.quant import QuantInfo

_SWA_PERIOD = {"gemma2": 2, "gemma3": 6, "gpt-oss": 2, "cohere2": 4}
MAX_LAYERS = 10_000
MAX_HEADS = 100_000
MAX_CONTEXT = 1 << 30
MAX_EXPERTS = 1 << 16


def _per_layer(f: Fields, key: str) -> list[int] | int | None:
    """An integer, or (head_count_kv of hybrid models, feed_forward_length of some) one per layer."""
    value = f.raw(key)
    if isinstance(value, list):
        return f.ints(key, low=0, high=MAX_HEADS if "head" in key else MAX_WIDTH, max_len=MAX_LAYERS)
    return f.integer(key, low=0, high=MAX_HEADS if "head" in key else MAX_WIDTH)


def _peak(value: list[int] | int | None) -> int | None:
    if isinstance(value, list):
        return max(value) if value and max(value) > 0 else None
    return value or None


def _sliding_layers(f: Fields, arch: str, layers: int, window: int | None) -> int:
    if not window:
        return 0
    pattern = f.raw(f"{arch}.attention.sliding_window_pattern")
    if isinstance(pattern, list):  # one flag per layer (true: sliding)
        return sum(1 for flag in pattern[:layers] if flag is True)
    period = pattern if isinstance(pattern, int) and not isinstance(pattern, bool) and pattern > 0 \
        else _SWA_PERIOD.get(arch)
    if period is None:  # a window with no pattern: every layer (Mistral-style)
        return layers
    return sum(1 for il in range(layers) if il % period < period - 1)


def _vocab(header: dict[str, Any]) -> int | None:
    n = header.get("vocab_size")  # the tokenizer.ggml.tokens length gguf_read counted
    return n if isinstance(n, int) and not isinstance(n, bool) and 0 < n < 1 << 24 else None


def layout_from_header(f: Fields, arch: str) -> AttentionLayout | None:
    layers = f.integer(f"{arch}.block_count", high=MAX_LAYERS)
    heads = _peak(_per_layer(f, f"{arch}.attention.head_count"))
    if not layers or not heads:
        return None
    kv_value = _per_layer(f, f"{arch}.attention.head_count_kv")
    if kv_value is None and not f.present(f"{arch}.attention.head_count_kv"):
        kv_value = heads
    attention_layers = layers
    mamba = 0
    if isinstance(kv_value, list):  # hybrid models list 0 for their recurrent layers
        attention_layers = sum(1 for kv in kv_value[:layers] if kv > 0)
        mamba = layers - attention_layers
    kv_heads = _peak(kv_value)
    hidden = f.integer(f"{arch}.embedding_length", high=MAX_WIDTH)
    head_dim = f.integer(f"{arch}.attention.key_length", high=MAX_WIDTH) or (hidden // heads if hidden else None)
    head_dim_v = f.integer(f"{arch}.attention.value_length", high=MAX_WIDTH) or head_dim
    window = f.integer(f"{arch}.attention.sliding_window", high=MAX_CONTEXT)
    sliding = min(_sliding_layers(f, arch, layers, window), attention_layers)
    lora = f.integer(f"{arch}.attention.kv_lora_rank", high=MAX_WIDTH)
    if lora:
        kind = "mla"
    elif kv_heads == 1:
        kind = "mqa"
    elif kv_heads == heads:
        kind = "mha"
    else:
        kind = "gqa"
    rope = f.integer(f"{arch}.rope.dimension_count", low=0, high=MAX_WIDTH) or 0
    return AttentionLayout(
        kind=kind, num_layers=layers, full_layers=attention_layers - sliding, sliding_layers=sliding,
        sliding_window=window if sliding else None, mamba_layers=mamba, num_attention_heads=heads,
        num_kv_heads=kv_heads, head_dim=head_dim, head_dim_v=head_dim_v,
        mla_latent=lora + rope if lora else None,
    )


def active_params(f: Fields, arch: str, params_total: int | None, experts: int | None,
                  used: int | None) -> int | None:
    """Parameters one token runs through: the total less the experts it skips. Each routed expert of a MoE layer
    holds gate, up and down projections of hidden × expert width (llama-model.cpp ffn_gate_exps/ffn_up_exps/
    ffn_down_exps); shared experts ({arch}.expert_shared_count) run for every token and stay counted. MoE layers
    are the blocks after {arch}.leading_dense_block_count."""
    if params_total is None or not experts or experts < 2:
        return params_total
    hidden = f.integer(f"{arch}.embedding_length", high=MAX_WIDTH)
    width = f.integer(f"{arch}.expert_feed_forward_length", high=MAX_WIDTH)
    if width is None:  # Mixtral-style files give the experts' width as the feed-forward length
        ff = _per_layer(f, f"{arch}.feed_forward_length")
        width = ff if isinstance(ff, int) else None
    layers = f.integer(f"{arch}.block_count", high=MAX_LAYERS)
    if not (hidden and width and layers and used) or used > experts:
        return None
    dense = f.integer(f"{arch}.leading_dense_block_count", low=0, high=MAX_LAYERS) or 0
    skipped = max(layers - dense, 0) * (experts - used) * 3 * hidden * width
    return params_total - skipped if 0 < skipped < params_total else None


def gguf_facts(base: ModelFacts, header: dict[str, Any], variant: GGUFVariant, found: list[GGUFVariant],
               params_total: int | None) -> ModelFacts:
    """`base` (built from the listing: license, downloads, formats) with the header's facts and the variant's size.
    `params_total`: the tensor elements of all the variant's parts (None when not all were read)."""
    problems: list[str] = list(base.problems)
    f = Fields.top(header.get("kv"), f"the GGUF header of {variant.file}", problems)
    arch = f.text("general.architecture", max_len=64)
    notes = [n for n in base.notes if "GGUF variants" not in n]
    if arch is None:
        problems.append(f"the GGUF header of {variant.file} names no general.architecture")
        return replace(base, problems=tuple(problems))
    layout = layout_from_header(f, arch)
    if layout is None:
        notes.append(f"the GGUF header of {variant.file} lacks {arch}.block_count or head_count: "
                     "KV-cache facts are unknown")
    experts = f.integer(f"{arch}.expert_count", low=0, high=MAX_EXPERTS)
    used = f.integer(f"{arch}.expert_used_count", low=0, high=MAX_EXPERTS)
    moe = bool(experts and experts > 1)
    quant = variant.quant or file_type_name(f.raw("general.file_type"))
    if len(found) > 1:
        notes.append(f"{len(found)} GGUF variants; planned for {variant.file} ({quant or 'quant type unknown'}); "
                     "pick another with --quant or --gguf-file")
    return replace(
        base,
        architecture=arch,
        model_type=arch,
        params_total=params_total,
        params_active=active_params(f, arch, params_total, experts, used) if moe else params_total,
        moe=moe,
        num_experts=experts if moe else None,
        experts_per_token=used if moe else None,
        moe_gated=None,
        num_layers=layout.num_layers if layout else None,
        attention=layout,
        hidden_size=f.integer(f"{arch}.embedding_length", high=MAX_WIDTH),
        intermediate_size=_peak(_per_layer(f, f"{arch}.feed_forward_length")),
        moe_intermediate_size=f.integer(f"{arch}.expert_feed_forward_length", high=MAX_WIDTH) if moe else None,
        vocab_size=f.integer(f"{arch}.vocab_size", high=1 << 24) or _vocab(header),
        max_context=f.integer(f"{arch}.context_length", high=MAX_CONTEXT),
        torch_dtype=None,
        weights_bytes=variant.size_bytes,
        weight_format="gguf",
        quantization=QuantInfo("gguf", quant, None, None),
        gguf_variants=tuple(found),
        gguf_choice=variant.file,
        notes=tuple(notes),
        problems=tuple(problems),
    )
