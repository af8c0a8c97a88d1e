"""Render Advice for the CLI: a stable JSON object, or short text for 80 columns over SSH."""

from __future__ import annotations

import os
import sys
from typing import Any, ClassVar

from spark_tui.advisor.gguf_fit import gguf_variants
from spark_tui.advisor.types import Advice
from spark_tui.errors import ModelNotFoundError, RulesError, SparkTuiError
from spark_tui.hardware.facts import HardwareFacts
from spark_tui.rules.evaluate import Finding
from spark_tui.rules.knowledge import Knowledge, stale_for

GIB = 1024**3
WIDTH = 80
SCHEME_LABELS = {
    "nvfp4": "NVFP4 (W4A4)", "nvfp4a16": "NVFP4 weight-only (W4A16)", "mxfp4": "MXFP4",
    "w4a16-int": "INT4 weight-only (W4A16)", "w4a8-int": "INT4 W4A8", "w8a16-int": "INT8 weight-only",
    "w8a8-int": "INT8 W8A8", "fp8": "FP8", "fp8-block": "FP8 block-scaled", "fp8-weight-only": "FP8 weight-only",
    "mixed": "mixed precision", "nf4": "NF4 (bitsandbytes)", "int8": "INT8 (bitsandbytes)", "gguf": "GGUF",
    "bf16": "BF16 (unquantized)", "fp16": "FP16 (unquantized)", "fp32": "FP32 (unquantized)",
}


def _newest_known() -> dict[str, str]:
    from spark_tui.engines.versions import known_engines  # the active set's engines.toml (cached)

    return {name: info.newest_known for name, info in known_engines().items()}


def knowledge_to_json(advice: Advice, knowledge: Knowledge) -> dict[str, Any]:
    newest = _newest_known()
    return {"as_of": knowledge.as_of, "source": knowledge.source, "newest_known": newest,
            "stale_for_engine": stale_for(advice.engine, advice.engine_version, newest)}


def stale_finding(advice: Advice, knowledge: Knowledge) -> Finding | None:
    """Advice for an engine release newer than the rules know is said to be so, not silently assumed current."""
    newest = _newest_known()
    if not stale_for(advice.engine, advice.engine_version, newest):
        return None
    known = newest[advice.engine]
    return Finding(
        rule="knowledge-stale", severity="info",
        title=f"Advice may be stale for {advice.engine} {advice.engine_version}: these rules know releases up to "
              f"{known}; run spark-tui rules update",
        detail=f"The rules set in use is current to {knowledge.as_of} and was written against {advice.engine} "
               f"{known}. Issues fixed or introduced in {advice.engine} {advice.engine_version} may be missing "
               "from these findings and from the launch plan.",
        fix="Run `spark-tui rules update` to fetch a newer rules set (it is activated only if every rule and "
            "its cases pass), or advise for a known release with --engine-version.",
        references=(), status="open", fixed_in=None, launch_env={}, launch_flags=(),
    )


def _findings(advice: Advice, knowledge: Knowledge | None) -> tuple[Finding, ...]:
    stale = stale_finding(advice, knowledge) if knowledge is not None else None
    return advice.findings + ((stale,) if stale else ())


def advice_to_json(advice: Advice, knowledge: Knowledge | None = None) -> dict[str, Any]:
    """`knowledge`: the rules set the advice used; given, the object has a top-level "knowledge" and the
    staleness finding (an engine newer than the set's newest_known) among the findings."""
    m, h, mem, perf, launch = advice.model, advice.hardware, advice.memory, advice.performance, advice.launch
    q = m.quantization
    return {
        "verdict": advice.verdict,
        "engine": {"name": advice.engine, "version": advice.engine_version,
                   "version_source": advice.engine_version_source},
        **({"knowledge": knowledge_to_json(advice, knowledge)} if knowledge is not None else {}),
        "engines": [{"name": e.engine, "verdict": e.verdict, "errors": e.errors, "warnings": e.warnings}
                    for e in advice.engines],
        "findings": [
            {
                "rule": f.rule, "severity": f.severity, "title": f.title, "detail": f.detail, "fix": f.fix,
                "status": f.status, "fixed_in": f.fixed_in,
                "references": [{"url": r.url, "label": r.label, "number": r.number, "state": r.state}
                               for r in f.references],
            }
            for f in _findings(advice, knowledge)
        ],
        "unknowns": list(advice.unknowns),
        "model": {
            "id": m.id, "revision": m.revision, "source": m.source, "model_type": m.model_type,
            "architecture": m.architecture, "multimodal": m.multimodal,
            "params_total": m.params_total, "params_active": m.params_active, "moe": m.moe,
            "num_experts": m.num_experts, "experts_per_token": m.experts_per_token, "moe_gated": m.moe_gated,
            "num_layers": m.num_layers, "attention": m.attention.kind if m.attention else None,
            "num_kv_heads": m.kv_heads, "head_dim": m.attention.head_dim if m.attention else None,
            "sliding_window": m.attention.sliding_window if m.attention else None,
            "max_context": m.max_context,
            "quantization": {"method": q.method, "scheme": q.scheme, "producer": q.producer,
                             "kv_cache_dtype": q.kv_cache_dtype, "weight_bits": q.weight_bits,
                             "activation_bits": q.activation_bits, "group_schemes": list(q.group_schemes)},
            "weights_bytes": m.weights_bytes, "weight_format": m.weight_format, "formats": list(m.formats),
            "trust_remote_code": m.trust_remote_code, "gated": m.gated, "license": m.license,
            "notes": list(m.notes),
            **({"gguf_file": m.gguf_choice, "gguf_variants": gguf_variants(advice)} if m.gguf_variants else {}),
        },
        "hardware": hardware_to_json(h),
        "memory": None if mem is None else {
            "budget_bytes": mem.budget_bytes, "total_bytes": mem.total_bytes,
            "gpu_memory_utilization": mem.gpu_memory_utilization, "utilization_source": mem.utilization_source,
            "weights_bytes": mem.weights_bytes, "overhead_bytes": mem.overhead_bytes,
            "activation_bytes": mem.activation_bytes, "non_torch_bytes": mem.non_torch_bytes,
            "cudagraph_bytes": mem.cudagraph_bytes, "kv_bytes_per_token": mem.kv_bytes_per_token,
            "kv_cache_bytes": mem.kv_cache_bytes, "kv_cache_tokens": mem.kv_cache_tokens,
            "kv_cache_dtype": mem.kv_cache_dtype, "block_size": mem.block_size,
            "max_model_len": mem.max_model_len, "max_model_len_fit": mem.max_model_len_fit,
            "max_model_len_source": mem.max_model_len_source, "max_num_batched_tokens": mem.max_num_batched_tokens,
            "max_num_seqs": mem.max_num_seqs, "fits": mem.fits, "tight": mem.tight,
            "kv_cache_tokens_range": list(mem.kv_cache_tokens_range) if mem.kv_cache_tokens_range else None,
            "max_model_len_safe": mem.max_model_len_safe, "startup_free_bytes": mem.startup_free_bytes,
            "startup_check_fails": mem.startup_check_fails, "assumptions": list(mem.assumptions),
            **_observed_json(mem), **_llamacpp_json(mem),
        },
        "performance": {"decode_tokens_per_s_bound": perf.decode_tokens_per_s_bound,
                        "bytes_per_token": perf.bytes_per_token, "at_context_tokens": perf.at_context_tokens,
                        "interconnect_bytes_per_token": perf.interconnect_bytes_per_token},
        "layout": {"nodes": h.nodes, "tensor_parallel_size": _argv_int(launch, "--tensor-parallel-size", "--tp_size"),
                   "pipeline_parallel_size": _argv_int(launch, "--pipeline-parallel-size"),
                   "distributed": _distributed(launch)},
        "nodes_needed": advice.nodes_needed,
        "launch": None if launch is None else {
            "argv": list(launch.argv), "env": dict(launch.env), "notes": list(launch.notes),
            "from_rules": [{"rule": s.rule, "kind": s.kind, "name": s.name, "value": s.value}
                           for s in launch.from_rules],  # what each rule added, so none of it is anonymous
            "nodes": [n.to_json() for n in launch.nodes],  # across nodes, in start order; empty on one node
        },
    }


def _llamacpp_json(mem: Any) -> dict[str, Any]:
    """memory.llamacpp: llama.cpp's own terms, when the plan is for llama-server."""
    d = mem.llamacpp
    if d is None:
        return {}
    return {"llamacpp": {
        "kv_cache_bytes": d.kv_cache_bytes, "compute_bytes": d.compute_bytes,
        "compute_device_bytes": d.compute_device_bytes, "compute_host_bytes": d.compute_host_bytes,
        "cuda_context_bytes": d.cuda_context_bytes, "n_ctx": d.n_ctx, "n_parallel": d.n_parallel,
        "kv_unified": d.kv_unified, "cache_type_k": d.cache_type_k, "cache_type_v": d.cache_type_v,
        "flash_attn": d.flash_attn, "n_ubatch": d.n_ubatch, "n_gpu_layers": d.n_gpu_layers,
        "swa_cells": d.swa_cells}}


def _ranks(advice: Advice) -> str:
    """"2 × " when tensor-parallel ranks read their shares at once (the bound counts their bandwidth together)."""
    tp = _argv_int(advice.launch, "--tensor-parallel-size", "--tp_size")
    return f"{tp} × " if tp > 1 else ""


def _argv_int(launch: Any, *names: str) -> int:
    """A count the launch command sets (1 when it sets none): what the engine is really told."""
    argv = list(launch.argv) if launch is not None else []
    for i, word in enumerate(argv[:-1]):
        if word in names and argv[i + 1].isdigit():
            return int(argv[i + 1])
    return 1


def _distributed(launch: Any) -> str | None:
    if launch is None or not launch.nodes:
        return None
    return "ray" if any(n.role == "ray-head" for n in launch.nodes) else "mp"


def failure_to_json(error: SparkTuiError | None, kind: str, message: str, model: str | None,
                    revision: str | None) -> dict[str, Any]:
    """`check --json` when there is no advice: verdict "unknown" and what went wrong, in the CLI's own words (the
    sentence stderr gets). `kind` is the error's family member (errors.py), "interrupted" or "internal"."""
    detail: dict[str, Any] = {"kind": kind, "message": message, "hint": error.hint if error else None}
    if isinstance(error, ModelNotFoundError):
        detail["suggestions"] = list(error.suggestions)
    if isinstance(error, RulesError):
        detail["problems"] = list(error.problems)
    return {"verdict": "unknown", "error": detail,
            "model": {"id": model, "revision": revision} if model is not None else None}


def _observed_json(mem: Any) -> dict[str, Any]:
    """`source` ("plan" or "observed": a launch of this very setup here) and what that launch printed."""
    o = mem.observed
    return {"source": mem.source, "observed": None if o is None else {
        "kv_cache_tokens": o.kv_cache_tokens, "kv_cache_bytes": o.kv_cache_bytes, "weights_bytes": o.weights_bytes,
        "cudagraph_bytes": o.cudagraph_bytes, "engine_version": o.engine_version, "at": o.at, "server": o.server,
        "outcome": o.outcome}}


def hardware_to_json(h: HardwareFacts) -> dict[str, Any]:
    return {
        "name": h.name, "gpu_name": h.gpu_name, "compute_capability": h.compute_capability,
        "unified_memory": h.unified_memory, "memory_bytes": h.memory_bytes, "bandwidth_gbps": h.bandwidth_gbps,
        "gpus": h.gpus, "nodes": h.nodes, "interconnect_gbps": h.interconnect_gbps,
        "source": h.source, "profile": h.profile, "driver_version": h.driver_version,
        "cuda_version": h.cuda_version, "memory_used_bytes": h.memory_used_bytes,
        "host_memory_total_bytes": h.host_memory_total_bytes,
        "host_memory_available_bytes": h.host_memory_available_bytes,
        "host_memory_free_bytes": h.host_memory_free_bytes, "host_page_cache_bytes": h.host_page_cache_bytes,
        "notes": list(h.notes),
    }


def use_color(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


class _Paint:
    CODES: ClassVar[dict[str, str]] = {
        "ok": "32", "caution": "33", "incompatible": "31", "unknown": "35", "error": "31",
        "warning": "33", "info": "36", "dim": "2", "bold": "1",
    }

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, style: str) -> str:
        return f"\033[{self.CODES[style]}m{text}\033[0m" if self.enabled else text


def _gib(value: int | None) -> str:
    return "?" if value is None else f"{value / GIB:.1f} GiB"


def _params(value: int | None) -> str:
    return "?" if value is None else f"{value / 1e9:.1f}B"


def _wrap(text: str, indent: str, subsequent: str | None = None) -> list[str]:
    import textwrap  # text output only

    return textwrap.wrap(" ".join(text.split()), WIDTH, initial_indent=indent, break_on_hyphens=False,
                         subsequent_indent=indent if subsequent is None else subsequent)


def render_text(advice: Advice, color: bool = False, verbose: bool = False, knowledge: Knowledge | None = None) -> str:
    p = _Paint(color)
    findings = _findings(advice, knowledge)
    m, h, mem, perf = advice.model, advice.hardware, advice.memory, advice.performance
    q = m.quantization
    version = advice.engine_version or "?"
    source = {"assumed": " (assumed: newest known; not installed)", "installed": " (installed)"}.get(
        advice.engine_version_source, "")
    out = [
        f"{p(m.id, 'bold')}" + (f"  @{m.revision[:12]}" if m.revision and m.source == "hub" else ""),
        f"Hardware {h.name}: {h.gpus}× {h.gpu_name or '?'}" + (
            f", {h.nodes} nodes" + (f" over {h.interconnect_gbps:g} GB/s" if h.interconnect_gbps else "")
            if h.nodes > 1 else ""),
        f"         CC {h.compute_capability or '?'}, {_gib(h.memory_bytes)} "
        f"{'unified memory' if h.unified_memory else 'per GPU'}"
        + (f", {h.bandwidth_gbps:g} GB/s" if h.bandwidth_gbps else ""),
        f"Engine   {advice.engine} {version}{source}",
        *([f"Rules    {knowledge.label}"] if knowledge is not None else []),
        "",
        f"Verdict: {p(advice.verdict.upper(), advice.verdict)}   "
        + "  ".join(f"{e.engine} {p(e.verdict, e.verdict)}" for e in advice.engines if e.engine != advice.engine),
    ]
    for unknown in advice.unknowns:
        out.append(f"  unknown: {unknown}")
    arch = m.architecture or m.model_type or "unknown architecture"
    moe = (f"MoE: {m.num_experts} experts, {m.experts_per_token} per token"
           + ("" if m.moe_gated is None else (f", gated ({m.moe_activation})" if m.moe_gated
                                              else f", non-gated ({m.moe_activation})"))) if m.moe else ""
    quant = SCHEME_LABELS.get(q.scheme or "", q.scheme or "?")
    if q.method not in (None, "none"):
        quant = f"{quant}, {q.method}"
    out += [
        "",
        f"Model    {arch}, {_params(m.params_total)} params"
        + (f" ({_params(m.params_active)} active)" if m.moe else ""),
        *([f"         {moe}"] if moe else []),
        f"         {quant}; weights {_gib(m.weights_bytes)} {m.weight_format or ''}".rstrip(),
    ]
    if mem is not None:
        tokens = f"{mem.kv_cache_tokens:,}" if mem.kv_cache_tokens is not None else "?"
        fits = {True: p("fits", "ok"), False: p("does not fit", "error"), None: "fit unknown"}[mem.fits]
        if mem.fits and mem.tight:
            fits = p(f"tight: fits by the estimate; sure to fit only up to {mem.max_model_len_safe:,}", "warning")
        likely = (f" (likely {mem.kv_cache_tokens_range[0]:,}–{mem.kv_cache_tokens_range[1]:,})"
                  if mem.kv_cache_tokens_range else "")
        length = {"given": "as given", "model": "the model's maximum",
                  "reduced": f"reduced from {mem.model_max_context} to fit"}[mem.max_model_len_source]
        if mem.llamacpp is not None:
            out += _llamacpp_lines(mem, fits)
        else:
            out += [
                f"Memory   budget {_gib(mem.budget_bytes)} per GPU ({mem.gpu_memory_utilization:g} × "
                f"{_gib(mem.total_bytes)}, {mem.utilization_source})",
                f"         weights {_gib(mem.weights_bytes)} + overhead {_gib(mem.overhead_bytes)}"
                f" → KV cache {_gib(mem.kv_cache_bytes)}",
                f"         KV cache holds {tokens} tokens{likely}",
                f"         max-model-len {mem.max_model_len or '-'} ({length}): {fits}",
            ]
        if mem.observed is not None:  # this very setup ran here: what it printed, not what the model predicts
            ran = "started" if mem.observed.outcome == "started" else p("did not fit here", "error")
            out.append(f"         observed on this machine on {mem.observed.at[:10]} ({mem.observed.server}, "
                       f"vLLM {mem.observed.engine_version or '?'}): {ran}")
    if perf.decode_tokens_per_s_bound is not None:
        out += [
            f"Speed    ≤ {perf.decode_tokens_per_s_bound:.0f} tok/s decode, one stream, "
            f"{perf.at_context_tokens}-token context",
            f"         ({_ranks(advice)}{h.bandwidth_gbps:g} GB/s ÷ {_gib(perf.bytes_per_token)} read per token"
            + (f"; {perf.interconnect_bytes_per_token / 1e6:.2f} MB per token over the network, its latency not "
               "counted)" if perf.interconnect_bytes_per_token else ")"),
        ]
    if advice.nodes_needed:
        hint = (f"does not fit one {h.name}; fits on {advice.nodes_needed} with vLLM's multi-node engine: "
                f"spark-tui check {m.id} --nodes {advice.nodes_needed}")
        out += [p(line, "warning") for line in _wrap(hint, "Nodes    ", "         ")]
    if findings:
        out += ["", "Findings"]
        for f in findings:
            out += _wrap(f"{p(f.severity.upper(), f.severity)} {f.title} [{f.rule}]", "  ", "    ")
            if f.severity == "info" and not verbose:
                continue  # one line each; `rules show ID` or --verbose has the rest
            out += _wrap(f.detail, "    ")
            out += _wrap("Fix: " + f.fix, "    ")
            for ref in f.references:
                state = f" ({ref.state})" if ref.state else ""
                out += _wrap(f"→ {ref.label}{state}", "    ", "      ")
                out.append(f"      {p(ref.url, 'dim')}")
        if not verbose and any(f.severity == "info" for f in findings):
            out.append("  (details of INFO findings: --verbose, or spark-tui rules show ID)")
    if advice.launch is not None and advice.launch.nodes:
        hosts = len({n.host for n in advice.launch.nodes})
        out += ["", f"Launch (on {hosts} nodes, in this order)"]
        for node in advice.launch.nodes:
            out.append(f"  on {node.host} ({node.role}):")
            for key, value in node.env.items():
                out.append(f"    export {key}={value}")
            out.append("    " + " \\\n      ".join(_argv_lines(list(node.argv))))
        for note in advice.launch.notes:
            out.append(f"  ({note})")
    elif advice.launch is not None:
        out += ["", "Launch"]
        for key, value in advice.launch.env.items():
            out.append(f"  export {key}={value}")
        out.append("  " + " \\\n    ".join(_argv_lines(list(advice.launch.argv))))
        for note in advice.launch.notes:
            out.append(f"  ({note})")
    notes = list(m.notes) + list(h.notes) + (list(mem.assumptions) if mem else [])
    if notes:
        out += ["", "Notes"] + [line for n in notes for line in _wrap(n, "  - ")]
    return "\n".join(out) + "\n"


def _llamacpp_lines(mem: Any, fits: str) -> list[str]:
    """The memory section in llama.cpp's terms: file weights, KV cache of the context, compute buffers, context."""
    d = mem.llamacpp
    length = {"given": "as given", "model": "the model's maximum",
              "reduced": f"reduced from {mem.model_max_context} to fit"}[mem.max_model_len_source]
    slots = (f"{d.n_parallel} slots sharing it" if d.kv_unified else f"{d.n_parallel} slots of "
             f"{d.n_ctx // max(d.n_parallel, 1):,}") + (" (llama-server's default)" if d.default_parallel else "")
    cache = d.cache_type_k if d.cache_type_k == d.cache_type_v else f"{d.cache_type_k}/{d.cache_type_v}"
    return [
        f"Memory   budget {_gib(mem.budget_bytes)} per GPU ({mem.gpu_memory_utilization:g} × "
        f"{_gib(mem.total_bytes)}, {mem.utilization_source}), llama.cpp's accounting",
        f"         weights {_gib(mem.weights_bytes)} (GGUF file, all layers) + KV cache {_gib(mem.kv_cache_bytes)}",
        f"         + compute {_gib(d.compute_bytes)} + CUDA context {_gib(d.cuda_context_bytes)}",
        f"         KV cache: {d.n_ctx:,} tokens ({cache}), {slots}",
        f"         -c {mem.max_model_len or '-'} ({length}; fits up to {mem.max_model_len_fit or 0:,}): {fits}",
    ]


def _argv_lines(argv: list[str]) -> list[str]:
    """Group an argv into `--flag value` pairs, one per line."""
    import shlex

    lines: list[str] = []
    head = shlex.join(argv[:3])
    rest = argv[3:]
    lines.append(head)
    i = 0
    while i < len(rest):
        if i + 1 < len(rest) and not rest[i + 1].startswith("-"):
            lines.append(shlex.join(rest[i:i + 2]))
            i += 2
        else:
            lines.append(shlex.quote(rest[i]))
            i += 1
    return lines


def render_hardware(h: HardwareFacts) -> str:
    lines = [
        f"{h.name}: {h.gpus}× {h.gpu_name or '?'}",
        f"  compute capability {h.compute_capability or '?'}; "
        f"{'unified memory (pool shared with the CPU)' if h.unified_memory else 'discrete memory'}",
        f"  memory {_gib(h.memory_bytes)} per GPU" + (f", {_gib(h.memory_used_bytes)} in use" if h.memory_used_bytes
                                                      is not None else ""),
        f"  bandwidth {h.bandwidth_gbps:g} GB/s" if h.bandwidth_gbps else "  bandwidth unknown",
        f"  source: {h.source}" + (f" (profile {h.profile})" if h.profile else ""),
    ]
    if h.driver_version:
        lines.append(f"  driver {h.driver_version}, CUDA {h.cuda_version or '?'}")
    if h.host_memory_total_bytes:
        lines.append(f"  host: {_gib(h.host_memory_total_bytes)} total, {_gib(h.host_memory_available_bytes)} "
                     f"available, {_gib(h.host_memory_free_bytes)} free, {_gib(h.host_page_cache_bytes)} page cache")
    lines += [f"  note: {n}" for n in h.notes]
    return "\n".join(lines) + "\n"
