"""The advisor: a pure function of (ModelFacts, HardwareFacts, options, rules) → Advice."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from spark_tui.advisor.gguf_fit import VariantFit, choose_variant, variant_fits
from spark_tui.advisor.launch import launch_plan
from spark_tui.advisor.llamacpp_plan import plan_llamacpp, with_variant
from spark_tui.advisor.memory import plan_memory
from spark_tui.advisor.performance import decode_bound
from spark_tui.advisor.types import (
    ENGINES,
    Advice,
    EngineVerdict,
    LaunchPlan,
    MemoryPlan,
    PerformanceBound,
    PlanOptions,
)
from spark_tui.hardware.facts import HardwareFacts
from spark_tui.hub.facts import ModelFacts
from spark_tui.rules import Finding, Rule, evaluate

__all__ = ["Advice", "LaunchPlan", "MemoryPlan", "PerformanceBound", "PlanOptions", "advise", "rule_facts"]

GIB = 1024**3


def _gib(value: int | None) -> str:
    return "?" if value is None else f"{value / GIB:.1f}"


def rule_facts(model: ModelFacts, hardware: HardwareFacts, options: PlanOptions,
               memory: MemoryPlan | None) -> dict[str, Any]:
    """The flat facts rules test (names and kinds in spark_tui.rules.facts)."""
    q = model.quantization
    schemes = [s for s in (q.scheme, *q.group_schemes) if s]
    if q.method == "gguf":  # the GGUF quant type (Q4_K_M, …) is an open set: rules see the closed "gguf"
        schemes = ["gguf"]
    util = memory.gpu_memory_utilization if memory else options.gpu_memory_utilization
    return {
        "engine": options.engine,
        "engine_version": options.engine_version,
        "hardware": hardware.profile or hardware.name,
        "gpu_name": hardware.gpu_name,
        "compute_capability": hardware.compute_capability,
        "unified_memory": hardware.unified_memory,
        "gpus": hardware.gpus,
        "nodes": hardware.nodes,
        "repo": model.id,
        "model_type": model.model_type,
        "architecture": model.architecture,
        "multimodal": model.multimodal,
        "moe": model.moe,
        "moe_gated": model.moe_gated,
        "num_experts": model.num_experts,
        "attention": model.attention.kind if model.attention else None,
        "sliding_window": bool(model.attention.sliding_layers) if model.attention else None,
        "hybrid": bool(model.attention.mamba_layers) if model.attention else None,
        "formats": list(model.formats),
        "weight_format": model.weight_format,
        "quant_method": q.method,
        "quant_scheme": schemes or None,
        "quant_producer": q.producer,
        "weight_only": (q.activation_bits is None) if q.weight_bits else None,
        "quant_problem": q.problem_kind or "none",
        "checkpoint_kv_cache_dtype": q.kv_cache_dtype,
        "trust_remote_code": model.trust_remote_code,
        "gated": bool(model.gated),
        "params_total": model.params_total,
        "kv_cache_dtype": options.kv_cache_dtype,
        "tensor_parallel_size": options.tensor_parallel_size,
        "pipeline_parallel_size": options.pipeline_parallel_size,
        "distributed": options.distributed or "none",
        "gpu_memory_utilization": util,
        "gpu_memory_utilization_set": options.gpu_memory_utilization is not None,
        "max_model_len": memory.max_model_len if memory else options.max_model_len,
        "fits": memory.fits if memory else None,
        "memory_tight": memory.tight if memory and memory.fits else None,
        "weights_fit": memory.weights_fit if memory else None,
        "startup_check_fails": memory.startup_check_fails if memory else None,
    }


def _context(model: ModelFacts, memory: MemoryPlan | None, facts: dict[str, Any]) -> dict[str, Any]:
    """Pre-formatted values rule texts may quote as {placeholders}."""
    ctx: dict[str, Any] = {
        "moe_activation": model.moe_activation or "unknown",
        "formats_text": ", ".join(model.formats) or "no",
        "quant_scheme_text": model.quantization.scheme or "unknown",
        "gpu_memory_utilization": f"{facts['gpu_memory_utilization']:g}" if facts["gpu_memory_utilization"] else "?",
    }
    if memory:
        ctx.update(
            memory_gib=_gib(memory.total_bytes), budget_gib=_gib(memory.budget_bytes),
            weights_gib=_gib(memory.weights_bytes), overhead_gib=_gib(memory.overhead_bytes),
            kv_cache_gib=_gib(memory.kv_cache_bytes),
            kv_cache_tokens=f"{memory.kv_cache_tokens:,}" if memory.kv_cache_tokens is not None else "?",
            max_model_len=f"{memory.max_model_len}" if memory.max_model_len else "?",
            max_model_len_fit=f"{memory.max_model_len_fit}" if memory.max_model_len_fit is not None else "?",
            max_model_len_safe=f"{memory.max_model_len_safe}" if memory.max_model_len_safe is not None else "?",
            kv_tokens_low=f"{memory.kv_cache_tokens_range[0]:,}" if memory.kv_cache_tokens_range else "?",
            kv_tokens_high=f"{memory.kv_cache_tokens_range[1]:,}" if memory.kv_cache_tokens_range else "?",
            startup_free_gib=_gib(memory.startup_free_bytes),
            startup_requested_gib=_gib(memory.startup_requested_bytes),
        )
    return ctx


def _unknowns(model: ModelFacts, hardware: HardwareFacts, memory: MemoryPlan | None) -> list[str]:
    unknowns = list(model.problems)  # the named nonsense first: it is what the user must fix
    q = model.quantization
    if model.attention is None:
        unknowns.append("the architecture (config.json missing or not understood)")
    if q.method is not None and q.scheme is None and q.method not in ("none",):
        unknowns.append(f"the quantization scheme ({q.problem or q.method})")
    elif q.method is None and q.problem is None:
        unknowns.append("the quantization")
    if model.weights_bytes is None:
        unknowns.append("the size of the weights")
    if hardware.memory_bytes is None:
        unknowns.append("the GPU's memory")
    if memory is not None and memory.fits is None and model.attention is not None:
        unknowns.append("the KV-cache size")
    return unknowns


def _verdict(model: ModelFacts, findings: list[Finding], unknowns: list[str]) -> str:
    if model.problems:
        return "unknown"  # facts read from a nonsensical config support no verdict, not even "incompatible"
    if any(f.severity == "error" for f in findings):
        return "incompatible"
    if unknowns:
        return "unknown"
    if any(f.severity == "warning" for f in findings):
        return "caution"
    return "ok"


def _assess(model: ModelFacts, hardware: HardwareFacts, options: PlanOptions, rules: list[Rule],
            observations: tuple[Any, ...] = ()) -> tuple[str, list[Finding], MemoryPlan | None, list[str]]:
    # llama-server is planned with llama.cpp's own accounting (llamacpp_plan), the others with vLLM's.
    memory = plan_llamacpp(model, hardware, options) if options.engine == "llamacpp" else plan_memory(
        model, hardware, options)
    facts = rule_facts(model, hardware, options, memory)
    findings = evaluate(rules, facts, _context(model, memory, facts))
    if observations and memory is not None and options.engine == "vllm":
        memory, findings = _calibrated(model, hardware, options, rules, memory, findings, observations)
    unknowns = _unknowns(model, hardware, memory)
    return _verdict(model, findings, unknowns), findings, memory, unknowns


def _calibrated(model: ModelFacts, hardware: HardwareFacts, options: PlanOptions, rules: list[Rule],
                memory: MemoryPlan, findings: list[Finding], observations: tuple[Any, ...],
                ) -> tuple[MemoryPlan, list[Finding]]:
    """The plan after what earlier launches here showed (spark_tui.calibration), and the findings on it. The setup
    is read from the launch plan's argv, as it was for the launch (a rule's --enforce-eager counts)."""
    from spark_tui.advisor import observed  # (imported here: only plans with observations need it)

    argv = launch_plan(model, options, memory, findings).argv
    key = observed.setup_key(model.id, model.revision, options.engine, options.engine_version, hardware, argv,
                                memory)
    used = observed.calibrate(memory, key, observations)
    if used is memory:
        return memory, findings
    facts = rule_facts(model, hardware, options, used)
    findings = evaluate(rules, facts, _context(model, used, facts))
    refused = observed.observed_finding(used)
    return used, ([refused] if refused else []) + findings


def advise(model: ModelFacts, hardware: HardwareFacts, options: PlanOptions, rules: list[Rule],
           engine_versions: dict[str, str] | None = None, observations: tuple[Any, ...] = ()) -> Advice:
    """Advice for `options.engine`, plus a verdict for each engine (others at `engine_versions`). `observations`:
    what launches on this machine printed (spark_tui.calibration.for_model), as plain data."""
    model, fits, no_fit = _gguf_variant(model, hardware, options)
    verdict, findings, memory, unknowns = _assess(model, hardware, options, rules, observations)
    if no_fit is not None:
        findings = [no_fit, *findings]
        if not model.problems:
            verdict = "incompatible"
    summary = []
    for engine in ENGINES:
        if engine == options.engine:
            summary.append(EngineVerdict(engine, verdict, *_counts(findings)))
            continue
        other = replace(options, engine=engine, engine_version=(engine_versions or {}).get(engine))
        v, f, _, _ = _assess(model, hardware, other, rules)
        summary.append(EngineVerdict(engine, v, *_counts(f)))
    mml = memory.max_model_len if memory else options.max_model_len
    performance = decode_bound(model, hardware, options.tensor_parallel_size, mml, options.kv_cache_dtype,
                               options.pipeline_parallel_size)
    launch = replace(launch_plan(model, options, memory, findings),
                     bound_tokens_per_s=performance.decode_tokens_per_s_bound)
    return Advice(
        verdict=verdict,
        engine=options.engine,
        engine_version=options.engine_version,
        engine_version_source=options.engine_version_source,
        model=model,
        hardware=hardware,
        findings=tuple(findings),
        memory=memory,
        performance=performance,
        launch=launch,
        unknowns=tuple(unknowns),
        engines=tuple(summary),
        gguf_fits=fits,
        nodes_needed=nodes_needed(model, hardware, options, memory),
    )


def _gguf_variant(model: ModelFacts, hardware: HardwareFacts, options: PlanOptions,
                  ) -> tuple[ModelFacts, tuple[VariantFit, ...], Finding | None]:
    """For a GGUF repo: each variant judged by llama.cpp's plan, the model planned for the default variant (when the
    user picked none), and a finding when none fits."""
    if not model.gguf_variants or hardware.memory_bytes is None:
        return model, (), None
    fits = variant_fits(model, hardware, options)
    if model.gguf_asked:
        return model, fits, None
    chosen, any_fit = choose_variant(model, hardware, options, fits)
    if chosen is not None and chosen.file != model.gguf_choice:
        model = with_variant(model, chosen.file, chosen.size_bytes, chosen.quant)
    if chosen is not None:
        why = "the largest that fits" if any_fit else "the smallest; none fits"
        notes = [n for n in model.notes if "GGUF variants; planned for" not in n]
        notes.append(f"{len(model.gguf_variants)} GGUF variants; planned for {chosen.file} ({chosen.quant or '?'}, "
                     f"{why}); pick another with --quant or --gguf-file")
        model = replace(model, notes=tuple(notes))
    if chosen is None or any_fit:
        return model, fits, None
    fit = next(f for f in fits if f.file == chosen.file)
    budget = _budget(model, hardware, options, fit.context)
    title = (f"No GGUF variant of {model.id} fits here: the smallest, {chosen.file} ({chosen.quant or '?'}, "
             f"{_gib(chosen.size_bytes)} GiB), needs {_gib(fit.needs_bytes)} GiB per GPU with a "
             f"{fit.context:,}-token context, and the budget is {_gib(budget)} GiB")
    finding = Finding(
        rule="gguf-no-variant-fits", severity="error", title=title,
        detail="Each variant was planned as llama-server would load it: all layers on the GPU, the KV cache and "
               "compute buffers of the context, and the CUDA context (check --json lists them under "
               "model.gguf_variants with fits=false).",
        fix="Use a machine with more memory, more GPUs (--gpus), or a smaller model.",
        references=(), status="by-design", fixed_in=None, launch_env={}, launch_flags=())
    return model, fits, finding


def _budget(model: ModelFacts, hardware: HardwareFacts, options: PlanOptions, context: int) -> int | None:
    plan = plan_llamacpp(model, hardware, replace(options, engine="llamacpp", max_model_len=context))
    return plan.budget_bytes if plan else None


MAX_NODES = 4  # NVIDIA's playbooks join up to four Sparks (multi-sparks-through-switch)


def nodes_needed(model: ModelFacts, hardware: HardwareFacts, options: PlanOptions,
                 memory: MemoryPlan | None) -> int | None:
    """For a model that does not fit one machine with a known network to others (a Spark's CX-7): the fewest such
    machines whose vLLM multi-node plan fits (tensor parallel across them, pipeline stages with several GPUs each),
    up to MAX_NODES; None when it fits now, cannot be planned, or needs more."""
    if memory is None or memory.fits is not False or hardware.nodes > 1 or not hardware.interconnect_gbps:
        return None
    if options.engine != "vllm" or options.tensor_parallel_size > 1:
        return None
    from spark_tui.advisor.multinode import choose_layout

    for count in range(2, MAX_NODES + 1):
        tp, pp, _ = choose_layout(model, count, hardware.gpus, "auto")
        plan = plan_memory(model, replace(hardware, nodes=count),
                           replace(options, tensor_parallel_size=tp, pipeline_parallel_size=pp))
        if plan is not None and plan.fits:
            return count
    return None


def _counts(findings: list[Finding]) -> tuple[int, int]:
    return sum(f.severity == "error" for f in findings), sum(f.severity == "warning" for f in findings)
