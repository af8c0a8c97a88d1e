"""The public llama.cpp start-up records (tests/fixtures/llamacpp-startup/records.jsonl) next to what spark-tui's
llama.cpp plan computes for them: KV cache and compute buffers, in MiB. Used by tests/unit/test_llamacpp_records.py
and bench/llamacpp_memory_records.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark_tui.advisor.llamacpp_memory import llamacpp_memory
from spark_tui.advisor.llamacpp_plan import compute_buffers
from spark_tui.hub.facts import ModelFacts, build_model_facts
from spark_tui.hub.gguf import GGUFVariant
from spark_tui.hub.gguf_facts import gguf_facts

RECORDS_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "llamacpp-startup" / "records.jsonl"
CONFIGS = Path(__file__).resolve().parents[1] / "fixtures" / "configs"
MiB = 1024 * 1024


def load() -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in map(json.loads, RECORDS_FILE.read_text().splitlines())}


def gguf_model(arch: str, a: dict[str, Any], size: int | None = None) -> ModelFacts:
    """ModelFacts through the GGUF path, from the architecture numbers llama.cpp's print_info shows."""
    kv: dict[str, Any] = {
        "general.architecture": arch, f"{arch}.block_count": a["n_layer"],
        f"{arch}.attention.head_count": a.get("n_head", a["n_head_kv"]),
        f"{arch}.attention.head_count_kv": a["n_head_kv"], f"{arch}.attention.key_length": a["n_embd_head_k"],
        f"{arch}.attention.value_length": a["n_embd_head_v"], f"{arch}.context_length": a["n_ctx_train"]}
    if a.get("n_swa"):
        kv[f"{arch}.attention.sliding_window"] = a["n_swa"]
    if a.get("n_embd"):
        kv[f"{arch}.embedding_length"] = a["n_embd"]
    base = build_model_facts(f"test/{arch}", source="local", revision=None, api=None, config=None,
                             hf_quant_config=None, files=[])
    variant = GGUFVariant("model.gguf", None, size, ("model.gguf",))
    return gguf_facts(base, {"kv": kv, "vocab_size": a.get("n_vocab")}, variant, [variant], None)


@dataclass(frozen=True)
class Setup:
    """How one record's server ran, and the model built from its architecture."""

    arch: str
    facts: str  # which numbers give the model
    options: dict[str, Any]
    full_offload: bool  # every layer (and every expert) on the GPU: the compute model applies as is
    why_not_full: str = ""


# The records that can be planned: the architecture key each model's GGUF uses and the server options the log shows.
SETUPS: dict[str, Setup] = {
    "L14-001": Setup("qwen3", "arch", {"build": 5489}, False, "-ngl 0: weights on the CPU, op offload stages them"),
    "L14-002": Setup("gpt-oss", "arch", {"n_ctx": 131072, "build": 6699, "flash_attn": True}, False,
                     "--n-cpu-moe 99: experts on the CPU"),
    "L14-003": Setup("", "config:Qwen__Qwen3-30B-A3B.json", {"n_ctx": 4096, "build": 6895}, False,
                     "--fit moved 34 layers' experts to the CPU (-ot …=CPU)"),
    "L14-007": Setup("qwen2", "arch_inferred", {"n_ctx": 4096, "build": 4701, "flash_attn": False}, True),
    "L14-008": Setup("gpt-oss", "arch_inferred", {"n_ctx": 4096, "n_parallel": 1, "flash_attn": True}, True),
    "L14-011": Setup("llama", "arch", {"n_ctx": 2048, "n_parallel": 1, "flash_attn": False, "build": 4000}, True),
    "L14-012": Setup("llama", "arch", {"n_ctx": 32768, "n_parallel": 1, "flash_attn": False, "build": 4000}, True),
}


@dataclass(frozen=True)
class Row:
    id: str
    model: str
    n_ctx: int
    flash_attn: bool
    full_offload: bool
    kv_printed: float | None
    kv_computed: float
    device_printed: float | None
    device_computed: float
    host_printed: float | None  # the host compute buffer plus the output buffer, where both are printed
    host_computed: float
    note: str

    @property
    def kv_error(self) -> float | None:
        return None if self.kv_printed is None else self.kv_computed / self.kv_printed - 1

    @property
    def device_error(self) -> float | None:
        return None if self.device_printed is None else self.device_computed / self.device_printed - 1

    @property
    def host_error(self) -> float | None:
        return None if self.host_printed is None else self.host_computed / self.host_printed - 1


def _host_printed(printed: dict[str, Any]) -> float | None:
    compute = printed.get("compute_mib") or {}
    host = next((v for k, v in compute.items() if k in ("CUDA_Host", "CPU", "Host")), None)
    if host is None:
        return None
    return host + (printed.get("output_mib") or 0.0)


def compare(record: dict[str, Any]) -> Row | None:
    setup = SETUPS.get(record["id"])
    if setup is None:
        return None
    if setup.facts.startswith("config:"):
        config = json.loads((CONFIGS / setup.facts.removeprefix("config:")).read_text())
        facts = build_model_facts(record["model"], source="local", revision=None, api=None, config=config,
                                  hf_quant_config=None, files=[])
    else:
        facts = gguf_model(setup.arch, record[setup.facts])
    opts = dict(setup.options)
    mem = llamacpp_memory(facts, **opts)
    assert mem is not None
    flash = bool(opts.get("flash_attn", opts.get("build", 0) >= 6325))  # "auto" on since b6325, taken as on
    device, host, _ = compute_buffers(facts, mem, flash)
    printed = record["printed"]
    kv_printed = printed.get("kv_mib")
    kv_computed = mem.kv_bytes / MiB
    if kv_printed is None and printed.get("swa_kv_mib") is not None:  # only the SWA cache's line was quoted
        kv_printed, kv_computed = printed["swa_kv_mib"], mem.parts[-1].bytes / MiB
    compute = printed.get("compute_mib") or {}
    device_printed = next((v for k, v in compute.items() if k not in ("CUDA_Host", "CPU", "Host")), None)
    # The output buffer is printed apart from the host compute buffer; compute_buffers() counts both as host.
    output = record["printed"].get("output_mib")
    host_computed = host / MiB if output is not None else (host - 4 * (facts.vocab_size or 0) * mem.n_slots) / MiB
    return Row(record["id"], record["model"], mem.n_ctx, flash, setup.full_offload, kv_printed, kv_computed,
               device_printed, device / MiB, _host_printed(printed), host_computed, setup.why_not_full)


def rows() -> list[Row]:
    return [row for r in load().values() if (row := compare(r)) is not None]
