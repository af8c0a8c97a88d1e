"""What earlier launches on this machine showed, and how a plan uses it (pure: plain data in, a plan out).

A plan uses the newest observation of the same setup (`calibrate`): with the same options it *is* the observation
("observed on this machine"); with other options the plan is corrected by what was measured. The observations
themselves are written and read by spark_tui/calibration.py (the store); the advisor gets them as plain data."""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, replace
from typing import Any

from spark_tui.advisor.types import MemoryPlan, ObservedMemory

GIB = 1024**3
OUTCOMES = ("started", "refused_kv", "oom")
OPTION_TYPES: dict[str, type] = {"tensor_parallel_size": int, "gpu_memory_utilization": float, "max_model_len": int,
                                 "max_num_seqs": int, "max_num_batched_tokens": int, "kv_cache_dtype": str,
                                 "enforce_eager": bool}
_FLAGS = {"--tensor-parallel-size": "tensor_parallel_size", "-tp": "tensor_parallel_size",
          "--gpu-memory-utilization": "gpu_memory_utilization", "--max-model-len": "max_model_len",
          "--max-num-seqs": "max_num_seqs", "--max-num-batched-tokens": "max_num_batched_tokens",
          "--kv-cache-dtype": "kv_cache_dtype"}
FIGURES = ("kv_cache_tokens", "kv_cache_bytes", "weights_bytes")


@dataclass(frozen=True)
class Observation:
    """One launch: its setup, what the plan predicted, what vLLM printed, and how it ended."""

    model: str
    revision: str | None
    engine: str
    engine_version: str | None
    hardware: dict[str, Any]  # name, memory_bytes (per GPU)
    options: dict[str, Any]  # OPTION_TYPES
    predicted: dict[str, int | None]  # FIGURES + overhead_bytes, budget_bytes
    observed: dict[str, Any]  # FIGURES + cudagraph_bytes, max_model_len_fit, engine_version (as logged)
    outcome: str  # OUTCOMES
    at: str  # ISO time of the launch
    server: str

    @property
    def error_pct(self) -> float | None:
        """How far the predicted KV tokens were from the observed ones, in % of the observed (signed)."""
        p, o = self.predicted.get("kv_cache_tokens"), self.observed.get("kv_cache_tokens")
        return None if not p or not o else round((p - o) / o * 100, 1)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "predicted": {k: self.predicted.get(k) for k in FIGURES},
                "observed": {k: self.observed.get(k) for k in FIGURES}, "error_pct": self.error_pct}

    def stored(self) -> dict[str, Any]:
        return asdict(self)


# --- the setup a plan (or a launch) is for ---

def launch_options(argv: list[str] | tuple[str, ...], memory: MemoryPlan) -> dict[str, Any]:
    """The options that change memory, as the engine gets them: from the launch's argv (what the user or a rule
    put there), else the plan's values (which are vLLM's defaults for this machine)."""
    options: dict[str, Any] = {
        "tensor_parallel_size": 1, "gpu_memory_utilization": memory.gpu_memory_utilization,
        "max_model_len": memory.max_model_len, "max_num_seqs": memory.max_num_seqs,
        "max_num_batched_tokens": memory.max_num_batched_tokens, "kv_cache_dtype": "auto", "enforce_eager": False}
    words = list(argv)
    for i, word in enumerate(words):
        flag, eq, value = word.partition("=")
        flag = flag.replace("_", "-") if flag.startswith("--") else flag
        if flag == "--enforce-eager":
            options["enforce_eager"] = True
        elif flag in _FLAGS and (eq or i + 1 < len(words)):
            key = _FLAGS[flag]
            with contextlib.suppress(ValueError):
                options[key] = OPTION_TYPES[key](value if eq else words[i + 1])
    return options


def setup_key(model_id: str, revision: str | None, engine: str, engine_version: str | None, hardware: Any,
              argv: list[str] | tuple[str, ...], memory: MemoryPlan) -> dict[str, Any]:
    return {"model": model_id, "revision": revision, "engine": engine, "engine_version": engine_version,
            "hardware": {"name": hardware.name, "memory_bytes": hardware.memory_bytes},
            "options": launch_options(argv, memory)}


def calibrate(memory: MemoryPlan, key: dict[str, Any], observations: list[Observation] | tuple[Observation, ...]
              ) -> MemoryPlan:
    """The plan for `key`, given what launches of the same model, revision, engine version and hardware showed:
    the newest one with the same options replaces it; else the newest with printed figures corrects it."""
    same = [o for o in observations if all(getattr(o, f) == key[f] for f in
                                           ("model", "revision", "engine", "engine_version", "hardware"))]
    exact = [o for o in same if o.options == key["options"]]
    if exact:
        return observed_plan(memory, exact[-1])
    usable = [o for o in same if o.observed.get("weights_bytes") and o.observed.get("kv_cache_bytes") is not None
              and (o.predicted.get("weights_bytes") or 0) > 0 and (o.predicted.get("overhead_bytes") or 0) > 0
              and o.predicted.get("budget_bytes")]
    return corrected_plan(memory, usable[-1], key["options"]) if usable else memory


def _date(obs: Observation) -> str:
    return obs.at[:10]


def observed_plan(memory: MemoryPlan, obs: Observation) -> MemoryPlan:
    """The same setup already ran here: what it printed is the plan (and "does not fit" if it was refused)."""
    o = obs.observed
    started = obs.outcome == "started"
    weights = o.get("weights_bytes")
    kv_bytes = o.get("kv_cache_bytes")
    overhead = memory.budget_bytes - weights - kv_bytes if weights is not None and kv_bytes is not None \
        else memory.overhead_bytes
    how = {"started": "started", "refused_kv": "was refused: its KV cache was too small",
           "oom": "ran out of memory"}[obs.outcome]
    note = (f"observed on this machine on {_date(obs)}: server {obs.server} (vLLM {o.get('engine_version') or '?'}) "
            f"with these options {how}")
    return replace(
        memory, source="observed", planned=memory.planned or memory,
        weights_bytes=memory.weights_bytes if weights is None else int(weights),
        kv_cache_bytes=memory.kv_cache_bytes if kv_bytes is None else max(0, int(kv_bytes)),
        overhead_bytes=int(overhead), kv_cache_tokens=o.get("kv_cache_tokens"),
        cudagraph_bytes=memory.cudagraph_bytes if o.get("cudagraph_bytes") is None else int(o["cudagraph_bytes"]),
        max_model_len_fit=o.get("max_model_len_fit") or memory.max_model_len_fit,
        weights_fit=started or weights is not None or obs.outcome == "refused_kv", fits=started,
        # What vLLM printed is no estimate: no spread around it, and nothing "tight" about a setup that ran.
        kv_cache_tokens_range=None if o.get("kv_cache_tokens") is None else (o["kv_cache_tokens"],) * 2,
        tight=False, max_model_len_safe=(o.get("max_model_len_fit") or memory.max_model_len_fit) if started else None,
        assumptions=(*memory.assumptions, note),
        observed=ObservedMemory(outcome=obs.outcome, kv_cache_tokens=o.get("kv_cache_tokens"),
                                kv_cache_bytes=kv_bytes, weights_bytes=weights,
                                cudagraph_bytes=o.get("cudagraph_bytes"), engine_version=o.get("engine_version"),
                                at=obs.at, server=obs.server))


def corrected_plan(memory: MemoryPlan, obs: Observation, options: dict[str, Any] | None = None) -> MemoryPlan:
    """Other options, same model, engine and hardware: correct the plan by what that launch measured.

    Measured engine overhead = requested budget − weights − available KV (everything that is not weights or KV:
    activation peak, non-torch memory, CUDA graphs). The model's error is taken as proportional to what it models:
    the overhead here = modelled overhead × (measured / modelled at the observed options), and the weights likewise
    (the same checkpoint loads the same way; only its split over GPUs changes). The KV cache is what is left, and
    tokens, blocks and the longest context that fits scale with it (exact for full attention; close for
    sliding-window models, whose per-request need is not linear in the context)."""
    p, o = obs.predicted, obs.observed
    measured_overhead = int(p["budget_bytes"] or 0) - int(o["weights_bytes"]) - int(o["kv_cache_bytes"])
    if measured_overhead <= 0:
        return memory  # figures that contradict each other teach nothing
    weights = round(memory.weights_bytes * o["weights_bytes"] / (p["weights_bytes"] or 1))
    overhead = round(memory.overhead_bytes * measured_overhead / (p["overhead_bytes"] or 1))
    kv_bytes = max(0, memory.budget_bytes - weights - overhead)
    scale = kv_bytes / memory.kv_cache_bytes if memory.kv_cache_bytes > 0 else None
    if scale is not None:
        tokens = None if memory.kv_cache_tokens is None else int(memory.kv_cache_tokens * scale)
        blocks = int(memory.num_blocks * scale)
    else:  # the plan left nothing for the KV cache: count tokens from bytes (full attention)
        tokens = kv_bytes // memory.kv_bytes_per_token if memory.kv_bytes_per_token else None
        blocks = kv_bytes // (memory.kv_bytes_per_token * memory.block_size) if memory.kv_bytes_per_token else 0
    # One request of max_model_len fits while the KV cache holds that many tokens (for sliding-window models vLLM
    # reports concurrency × max_model_len, so the same test holds); the longest context scales with the cache,
    # unless the model's own limit capped it.
    fit = memory.max_model_len_fit
    if fit is not None and tokens is not None:
        if memory.model_max_context is not None and fit >= memory.model_max_context:  # the model's limit, not memory
            fit = fit if tokens >= fit else tokens
        else:
            fit = int(fit * scale) if scale is not None else tokens
            fit = min(fit, memory.model_max_context or fit)
    weights_fit = weights + overhead < memory.budget_bytes
    fits = memory.fits
    if fits is not None and memory.max_model_len:
        fits = weights_fit and tokens is not None and tokens >= memory.max_model_len
    # The corrected figure keeps the table's spread (a measurement at other options is not one at these), moved with
    # the cache; "tight" and the safe length follow it as in the plan.
    low_high = memory.kv_cache_tokens_range
    if low_high is not None and scale is not None:
        low_high = (int(low_high[0] * scale), int(low_high[1] * scale))
    safe = memory.max_model_len_safe
    if safe is not None and scale is not None:
        safe = min(int(safe * scale), memory.model_max_context or int(safe * scale))
    tight = bool(fits) and safe is not None and memory.max_model_len is not None and memory.max_model_len > safe
    changed = ", ".join(f"{k.replace('_', '-')} {v}" for k, v in obs.options.items() if v != (options or {}).get(k))
    note = (f"corrected by server {obs.server} on this machine on {_date(obs)} (it had {changed or 'other options'}): "
            f"engine overhead {memory.overhead_bytes / GIB:.2f} → {overhead / GIB:.2f} GiB, weights "
            f"{memory.weights_bytes / GIB:.2f} → {weights / GIB:.2f} GiB, KV cache "
            f"{memory.kv_cache_bytes / GIB:.2f} → {kv_bytes / GIB:.2f} GiB")
    return replace(memory, planned=memory.planned or memory, weights_bytes=weights, overhead_bytes=overhead,
                   kv_cache_bytes=kv_bytes, kv_cache_tokens=tokens, num_blocks=blocks, max_model_len_fit=fit,
                   weights_fit=weights_fit, fits=fits, kv_cache_tokens_range=low_high, tight=tight,
                   max_model_len_safe=safe, assumptions=(*memory.assumptions, note))


def observed_finding(memory: MemoryPlan) -> Any:
    """An error finding when this very setup failed for memory here: the verdict says it did not fit."""
    from spark_tui.rules.evaluate import Finding

    o = memory.observed
    if o is None or o.outcome == "started":
        return None
    why = "its KV cache was too small for one request" if o.outcome == "refused_kv" else "it ran out of memory"
    return Finding(
        rule="observed-does-not-fit", severity="error",
        title=f"Did not fit here: server {o.server} with these options failed to start on {o.at[:10]} ({why})",
        detail=f"vLLM {o.engine_version or '?'} was started by spark-tui with the same model, revision, hardware "
               f"and memory options, and refused to start: {why}.",
        fix="Lower --max-model-len or --max-num-seqs, use --kv-cache-dtype fp8, or raise --gpu-memory-utilization; "
            "spark-tui calibration ls lists what launches printed.",
        references=(), status="by-design", fixed_in=None, launch_env={}, launch_flags=())
