"""The public vLLM start-up records (tests/fixtures/vllm-startup/records.jsonl) held against the whole memory plan.

For each record: the model's real config (a fixture), a GPU with the total memory the log printed, the options the
reporter ran with, and the vLLM version (printed or inferred, as the record says). The plan is then compared with
what vLLM printed: weights, available KV memory, KV tokens, and whether it started. Used by
tests/unit/test_plan_vs_records.py and bench/memory_records.py.

A record enters the comparison only when everything the plan needs is known; otherwise `inputs()` says why not,
and the bench lists it so the gap is visible.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark_tui.advisor.memory import GIB, kv_cache_tokens_for, loaded_weights_bytes, mxfp4_padding_bytes, plan_memory
from spark_tui.advisor.types import MemoryPlan, PlanOptions
from spark_tui.hardware.facts import HardwareFacts
from spark_tui.hardware.profiles import load_profiles, match_profile
from spark_tui.hub.facts import ModelFacts, build_model_facts
from tests.support import fixture_repos

RECORDS_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "vllm-startup" / "records.jsonl"
CHECKPOINT_SIZES_FILE = RECORDS_FILE.with_name("checkpoint_sizes.json")
FAILED = {"refused_kv", "oom"}


def load() -> list[dict[str, Any]]:
    return [json.loads(line) for line in RECORDS_FILE.read_text().splitlines() if line.strip()]


@dataclass(frozen=True)
class Inputs:
    """What the plan is computed from, for one record."""

    model: ModelFacts
    hardware: HardwareFacts
    options: PlanOptions


@dataclass(frozen=True)
class Row:
    """One record's comparison. Errors are (predicted − observed) / observed, in percent."""

    record_id: str
    model: str
    gpu: str
    version: str
    outcome: str
    plan: MemoryPlan | None
    observed_tokens: int | None
    observed_kv_gib: float | None
    observed_weights_gib: float | None
    tokens_error_pct: float | None
    kv_gib_error_pct: float | None
    fit_predicted: bool | None
    fit_observed: bool | None
    skipped: str | None  # why the record could not be compared

    @property
    def kv_error_pct(self) -> float | None:
        """The KV error vLLM lets us measure: tokens when it printed them, else the KV memory (the same ratio for
        a given layout)."""
        return self.tokens_error_pct if self.tokens_error_pct is not None else self.kv_gib_error_pct

    @property
    def kv_ratio(self) -> float | None:
        """vLLM's figure ÷ the plan's (tokens, else memory)."""
        return None if self.kv_error_pct is None else 1 / (1 + self.kv_error_pct / 100)


def plan_version(record: dict[str, Any]) -> str | None:
    """The version the plan uses: the record's `plan_version` (a normalised reading of the printed or inferred
    version); None when the record could not date the log."""
    return record.get("plan_version")


def params_weights_gib(record: dict[str, Any]) -> float | None:
    """Per-rank weights of an unquantized (16-bit) checkpoint from the config's parameter count: what the plan
    would say without the Hub's file sizes."""
    name = record.get("plan_config")
    if not name or record.get("plan_weights") != "params_16bit":
        return None
    facts = build_model_facts(record["model"], source="hub", revision=None, api={},
                              config=fixture_repos.config(name), hf_quant_config=None, files=[])
    if not facts.params_total:
        return None
    return facts.params_total * 2 / GIB / (record["tensor_parallel_size"] or 1)


def checkpoint_bytes(model: str) -> int | None:
    """The checkpoint's tensor bytes (its safetensors index's total_size), when the fixtures hold it."""
    entry = json.loads(CHECKPOINT_SIZES_FILE.read_text()).get(model)
    return entry["total_size"] if isinstance(entry, dict) else None


def weights_gib(record: dict[str, Any]) -> float | None:
    """Per-rank weights the plan uses: as printed ("Model loading took"), else from the parameter count."""
    return record["printed"].get("model_loading_gib") or params_weights_gib(record)


def _hardware(record: dict[str, Any]) -> HardwareFacts:
    gpu = record["gpu"]
    profile = match_profile(gpu, load_profiles())
    total = int((record.get("gpu_total_gib") or record.get("plan_gpu_total_gib") or 0) * GIB)
    return HardwareFacts(
        name=gpu, gpu_name=gpu, gpus=max(1, record["tensor_parallel_size"] or 1),
        compute_capability=profile.compute_capability if profile else None,
        unified_memory=bool(profile and profile.unified_memory), memory_bytes=total, bandwidth_gbps=None,
        source="record",
    )


def inputs(record: dict[str, Any]) -> Inputs | str:
    """The plan's inputs for a record, or why it cannot be planned."""
    if record.get("plan_skip"):
        return record["plan_skip"]
    name = record.get("plan_config")
    if not name:
        return "no config fixture for the model"
    total = record.get("gpu_total_gib") or record.get("plan_gpu_total_gib")
    if not total:
        return "the GPU's total memory is not known"
    version = plan_version(record)
    if not version:
        return "the vLLM version is not known"
    tp = record["tensor_parallel_size"] or 1
    per_rank = weights_gib(record)
    if not per_rank:
        return "the weights' size is not known (no 'Model loading took' line, not an unquantized checkpoint)"
    hardware = _hardware(record)
    # The facts hold the whole checkpoint: its real size where known (so the plan's own weights are tested too),
    # else "Model loading took" (per rank) less the padding the plan will add back.
    checkpoint = checkpoint_bytes(record["model"])
    if checkpoint is None:
        printed = _facts(record, name, int(per_rank * GIB * tp))
        checkpoint = int(per_rank * GIB * tp) - mxfp4_padding_bytes(printed, hardware)
    model = _facts(record, name, checkpoint)
    opts = record["options"]
    options = PlanOptions(
        engine="vllm", engine_version=version, engine_version_source="given", tensor_parallel_size=tp,
        gpu_memory_utilization=opts.get("gpu_memory_utilization"), max_model_len=opts.get("max_model_len"),
        kv_cache_dtype=opts.get("kv_cache_dtype") or "auto", max_num_batched_tokens=opts.get("max_num_batched_tokens"),
        max_num_seqs=opts.get("max_num_seqs"), enforce_eager=bool(opts.get("enforce_eager")),
    )
    return Inputs(model, hardware, options)


def _facts(record: dict[str, Any], config_name: str, checkpoint: int) -> ModelFacts:
    return build_model_facts(record["model"], source="hub", revision=record.get("revision"), api={},
                             config=fixture_repos.config(config_name),
                             hf_quant_config=fixture_repos.hf_quant_config(config_name),
                             files=[("model.safetensors", checkpoint)])


def observed_tokens(record: dict[str, Any]) -> int | None:
    printed = record["printed"]
    if printed.get("kv_cache_tokens"):
        return int(printed["kv_cache_tokens"])
    if printed.get("gpu_blocks") and printed.get("block_size_for_blocks"):
        return int(printed["gpu_blocks"]) * int(printed["block_size_for_blocks"])
    return None


def _error(predicted: float | None, observed: float | None) -> float | None:
    # A negative printed KV memory (a refused start) has no meaningful relative error; the fit call covers it.
    if predicted is None or observed is None or observed <= 0:
        return None
    return (predicted - observed) / observed * 100


def compare(record: dict[str, Any]) -> Row:
    outcome = record["outcome"]
    fit_observed = True if outcome == "started" else False if outcome in FAILED else None
    printed = record["printed"]
    base = dict(record_id=record["record_id"], model=record["model"], gpu=record["gpu"],
                version=str(record.get("plan_version") or record.get("vllm_version")), outcome=outcome,
                observed_tokens=observed_tokens(record), observed_kv_gib=printed.get("available_kv_cache_gib"),
                observed_weights_gib=printed.get("model_loading_gib"), fit_observed=fit_observed)
    given = inputs(record)
    if isinstance(given, str):
        return Row(**base, plan=None, tokens_error_pct=None, kv_gib_error_pct=None, fit_predicted=None,
                   skipped=given)
    plan = plan_memory(given.model, given.hardware, given.options)
    if plan is None:
        return Row(**base, plan=None, tokens_error_pct=None, kv_gib_error_pct=None, fit_predicted=None,
                   skipped="the plan could not be made")
    kv_gib = plan.kv_cache_bytes / GIB
    return Row(**base, plan=plan, tokens_error_pct=_error(plan.kv_cache_tokens, base["observed_tokens"]),
               kv_gib_error_pct=_error(kv_gib, base["observed_kv_gib"]), fit_predicted=plan.fits, skipped=None)


@dataclass(frozen=True)
class LayoutRow:
    """The KV-layout half alone: vLLM's own available KV memory in, the tokens it printed out."""

    record_id: str
    model: str
    version: str
    kv_gib: float
    predicted_tokens: int | None
    observed_tokens: int
    error_pct: float | None


def layout_compare(record: dict[str, Any]) -> LayoutRow | str:
    """Tokens the plan's layout gives for the KV memory vLLM printed, against the tokens it printed; or why not.
    Needs no weights and no overhead model, so records without a "Model loading took" line still test it."""
    if record.get("plan_skip"):
        return record["plan_skip"]
    name, version = record.get("plan_config"), plan_version(record)
    kv_gib, tokens = record["printed"].get("available_kv_cache_gib"), observed_tokens(record)
    if not name:
        return "no config fixture for the model"
    if not version:
        return "the vLLM version is not known"
    if not kv_gib or kv_gib <= 0 or not tokens:
        return "the log prints no available KV memory with its tokens"
    opts = record["options"]
    tp = record["tensor_parallel_size"] or 1
    model = build_model_facts(record["model"], source="hub", revision=None, api={},
                              config=fixture_repos.config(name), hf_quant_config=fixture_repos.hf_quant_config(name),
                              files=[])
    options = PlanOptions(engine="vllm", engine_version=version, engine_version_source="given",
                          tensor_parallel_size=tp, kv_cache_dtype=opts.get("kv_cache_dtype") or "auto")
    mml = opts.get("max_model_len") or model.max_context or 0
    mnbt = opts.get("max_num_batched_tokens") or 2048
    predicted = kv_cache_tokens_for(model, _hardware(record), options, int(kv_gib * GIB), mml, mnbt)
    return LayoutRow(record["record_id"], record["model"], version, kv_gib, predicted, tokens,
                     _error(predicted, tokens))


@dataclass(frozen=True)
class WeightsRow:
    """The plan's per-rank weights (checkpoint size + kernel padding) against vLLM's "Model loading took"."""

    record_id: str
    model: str
    gpu: str
    checkpoint_gib: float
    padding_gib: float
    predicted_gib: float
    observed_gib: float
    error_pct: float


def weights_compare(record: dict[str, Any]) -> WeightsRow | str:
    """Needs the checkpoint's size, the config and a "Model loading took" line; a record's plan_skip is about its
    KV figures, so it does not keep the record out of this comparison."""
    observed, name = record["printed"].get("model_loading_gib"), record.get("plan_config")
    checkpoint = checkpoint_bytes(record["model"])
    if not observed:
        return "no 'Model loading took' line"
    if not name:
        return "no config fixture for the model"
    if checkpoint is None:
        return "the checkpoint's size is not in the fixtures"
    tp = record["tensor_parallel_size"] or 1
    model, hardware = _facts(record, name, checkpoint), _hardware(record)
    predicted = (loaded_weights_bytes(model, hardware, tp) or 0) / GIB
    return WeightsRow(record["record_id"], record["model"], record["gpu"], checkpoint / GIB,
                      mxfp4_padding_bytes(model, hardware) / GIB, predicted, observed,
                      (predicted - observed) / observed * 100)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of absolute values."""
    ordered = sorted(abs(v) for v in values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def version_of(text: str) -> str | None:
    """A plain version number inside a record's version text (e.g. "~0.6.4.x (inferred)" → "0.6.4")."""
    match = re.search(r"\d+\.\d+(?:\.\d+)?", text or "")
    return match.group(0) if match else None
