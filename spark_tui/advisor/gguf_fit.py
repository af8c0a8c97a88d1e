"""Which GGUF variants of a model fit, by llama.cpp's own memory plan (llamacpp_plan), and which one to plan for.

A variant fits when llama-server could run it with every layer on the GPU: its file bytes, the KV cache and compute
buffers of the requested context (--max-model-len; without one, 4,096 tokens, the floor llama.cpp's --fit shrinks
an unset context to: common/common.h fit_params_min_ctx) and the CUDA context, within the budget.

The default variant, when the user picked none (--quant / --gguf-file): the largest that fits with the requested
context (the model's whole context when none is given, else the --fit floor), preferring a K-quant among variants
within 5 % of that size. This is meant to be LM Studio-like; LM Studio's exact rule is not public (our research
notes could not confirm it), and llama.cpp's own `-hf` default is Q4_K_M, then Q8_0, then the first file
(common/download.cpp). With no variant fitting, the plan is for the smallest, which says what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from spark_tui.advisor.llamacpp_plan import FIT_MIN_CONTEXT, plan_llamacpp, with_variant
from spark_tui.advisor.types import MemoryPlan, PlanOptions
from spark_tui.hardware.facts import HardwareFacts
from spark_tui.hub.facts import ModelFacts
from spark_tui.hub.gguf import GGUFVariant

NEAR_EQUAL = 0.95  # sizes within 5 % of the largest fitting one count as "near-equal"


@dataclass(frozen=True)
class VariantFit:
    file: str
    quant: str | None
    size_bytes: int | None
    fits: bool | None
    needs_bytes: int | None  # per GPU, at the context it was judged for
    context: int  # the context it was judged for


def _plan(model: ModelFacts, hardware: HardwareFacts, options: PlanOptions, v: GGUFVariant,
          context: int) -> MemoryPlan | None:
    opts = replace(options, engine="llamacpp", max_model_len=context)
    if options.engine != "llamacpp":
        opts = replace(opts, engine_version=None)  # another engine's version says nothing about llama.cpp's
    return plan_llamacpp(with_variant(model, v.file, v.size_bytes, v.quant), hardware, opts)


def _floor(model: ModelFacts, options: PlanOptions) -> int:
    return options.max_model_len or min(model.max_context or FIT_MIN_CONTEXT, FIT_MIN_CONTEXT)


def variant_fits(model: ModelFacts, hardware: HardwareFacts, options: PlanOptions) -> tuple[VariantFit, ...]:
    """Each listed variant judged at the requested context (--max-model-len, else the --fit floor)."""
    context = _floor(model, options)
    out = []
    for v in model.gguf_variants:
        plan = _plan(model, hardware, options, v, context) if v.size_bytes is not None else None
        needs = plan.weights_bytes + plan.overhead_bytes + plan.kv_cache_bytes if plan else None
        out.append(VariantFit(v.file, v.quant, v.size_bytes, plan.fits if plan else None, needs, context))
    return tuple(out)


def _k_quant(quant: str | None) -> bool:
    return bool(quant) and "_K" in (quant or "").upper()


def _largest(fitting: list[GGUFVariant]) -> GGUFVariant:
    top = max(v.size_bytes or 0 for v in fitting)
    near = [v for v in fitting if (v.size_bytes or 0) >= NEAR_EQUAL * top]
    preferred = [v for v in near if _k_quant(v.quant)] or near
    return max(preferred, key=lambda v: v.size_bytes or 0)


def choose_variant(model: ModelFacts, hardware: HardwareFacts, options: PlanOptions,
                   fits: tuple[VariantFit, ...]) -> tuple[GGUFVariant | None, bool]:
    """(variant to plan for, whether any fits). None when sizes or the layout are unknown (keep the header's)."""
    sized = [v for v in model.gguf_variants if v.size_bytes is not None]
    if not sized or all(f.fits is None for f in fits):
        return None, True
    by_file = {f.file: f for f in fits}
    at_floor = [v for v in sized if by_file[v.file].fits]
    if not at_floor:
        return min(sized, key=lambda v: v.size_bytes or 0), False
    if options.max_model_len is None and model.max_context and model.max_context > _floor(model, options):
        whole = [v for v in at_floor if (p := _plan(model, hardware, options, v, model.max_context)) and p.fits]
        if whole:
            return _largest(whole), True
    return _largest(at_floor), True


def gguf_variants(advice: Any) -> list[dict[str, Any]]:
    """[{file, quant, size_bytes, fits, needs_bytes, context}] for check --json (empty for other formats)."""
    return [{"file": f.file, "quant": f.quant, "size_bytes": f.size_bytes, "fits": f.fits,
             "needs_bytes": f.needs_bytes, "context": f.context} for f in advice.gguf_fits]
