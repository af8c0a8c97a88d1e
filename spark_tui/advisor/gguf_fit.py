"""Which GGUF variants of a model fit the hardware: a deliberately simple screen, not llama.cpp's memory plan.

A variant fits when its file bytes (llama.cpp loads the whole file; all layers offloaded) plus the KV cache of a
minimal context — 4,096 tokens, llama.cpp's `--fit` floor (common/common.h `fit_params_min_ctx = 4096`) at the
planned KV bytes per token — plus a 1 GiB margin (`fit_params_target`, 1 GiB per device) stay within the memory
budget of all the machine's GPUs together (llama.cpp splits layers across every visible GPU by default).
"""

from __future__ import annotations

from typing import Any

MIN_CONTEXT_TOKENS = 4096
MARGIN_BYTES = 1 << 30


def variant_fits(size_bytes: int | None, kv_bytes_per_token: int | None, budget_bytes: int | None,
                 gpus: int = 1) -> bool | None:
    """None when a figure is unknown."""
    if size_bytes is None or kv_bytes_per_token is None or budget_bytes is None:
        return None
    need = size_bytes + MIN_CONTEXT_TOKENS * kv_bytes_per_token + MARGIN_BYTES * gpus
    return need <= budget_bytes * gpus


def gguf_variants(advice: Any) -> list[dict[str, Any]]:
    """[{file, quant, size_bytes, fits}] for the model's GGUF variants (empty for other formats)."""
    mem = advice.memory
    kv = mem.kv_bytes_per_token if mem is not None else None
    budget = mem.budget_bytes if mem is not None else None
    gpus = advice.hardware.gpus or 1
    return [{"file": v.file, "quant": v.quant, "size_bytes": v.size_bytes,
             "fits": variant_fits(v.size_bytes, kv, budget, gpus)} for v in advice.model.gguf_variants]
