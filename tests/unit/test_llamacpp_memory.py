"""llama.cpp's KV-cache accounting (spark_tui/advisor/llamacpp_memory.py) against public llama-server start-up logs.

The records are in tests/fixtures/llamacpp-startup/records.jsonl (README.md there says where each comes from). Each
usable record's model is built as the project builds it (a GGUF header with the architecture numbers the log prints,
or the model's real config.json), and the function's KV MiB must equal the printed `llama_kv_cache…: size = X MiB`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spark_tui.advisor.llamacpp_memory import LlamaCppMemory, llamacpp_memory, row_bytes
from spark_tui.hub.facts import ModelFacts, build_model_facts
from spark_tui.hub.gguf import GGUFVariant
from spark_tui.hub.gguf_facts import gguf_facts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
_LINES = (FIXTURES / "llamacpp-startup" / "records.jsonl").read_text().splitlines()
RECORDS = {r["id"]: r for r in map(json.loads, _LINES)}
MiB = 1024 * 1024


def gguf_model(arch: str, a: dict[str, Any], n_head: int, size: int | None = None) -> ModelFacts:
    """ModelFacts through the GGUF path, from the architecture numbers llama.cpp's print_info shows."""
    kv: dict[str, Any] = {
        "general.architecture": arch, f"{arch}.block_count": a["n_layer"], f"{arch}.attention.head_count": n_head,
        f"{arch}.attention.head_count_kv": a["n_head_kv"], f"{arch}.attention.key_length": a["n_embd_head_k"],
        f"{arch}.attention.value_length": a["n_embd_head_v"], f"{arch}.context_length": a["n_ctx_train"]}
    if a.get("n_swa"):
        kv[f"{arch}.attention.sliding_window"] = a["n_swa"]
    base = build_model_facts(f"test/{arch}", source="local", revision=None, api=None, config=None,
                             hf_quant_config=None, files=[])
    variant = GGUFVariant("model.gguf", None, size, ("model.gguf",))
    return gguf_facts(base, {"kv": kv}, variant, [variant], None)


def config_model(name: str) -> ModelFacts:
    config = json.loads((FIXTURES / "configs" / name).read_text())
    return build_model_facts(name, source="local", revision=None, api=None, config=config, hf_quant_config=None,
                             files=[])


def mib(n: int) -> float:
    return n / MiB


def test_qwen3_0_6b_dense_f16_old_defaults_l14_001():
    r = RECORDS["L14-001"]  # build 5489, `llama-server -m model.gguf`: -c 4096 default then, 1 slot, no FA
    facts = gguf_model("qwen3", r["arch"], n_head=16, size=round(456.11 * MiB))
    m = llamacpp_memory(facts, build=5489)
    assert m is not None
    assert (m.n_ctx, m.kv_cells, m.n_slots, len(m.parts)) == (4096, r["printed"]["kv_cells"], 1, 1)
    assert m.parts[0].layers == 28
    assert (mib(m.kv_bytes), mib(m.k_bytes), mib(m.v_bytes)) == (448.0, 224.0, 224.0) == (
        r["printed"]["kv_mib"], r["printed"]["k_mib"], r["printed"]["v_mib"])
    assert m.weights_bytes == round(456.11 * MiB)  # print_info file size = CPU_Mapped model buffer, 456.11 MiB


def test_gpt_oss_20b_swa_l14_002():
    r = RECORDS["L14-002"]  # build 6699, -c 131072 -fa on, 1 slot (server default before b6931)
    m = llamacpp_memory(gguf_model("gpt-oss", r["arch"], n_head=64), n_ctx=131072, build=6699, flash_attn=True)
    assert m is not None
    printed = [(p["cells"], p["layers"], p["k_mib"], p["v_mib"]) for p in r["printed"]["kv_parts"]]
    assert [(p.cells, p.layers, mib(p.k_bytes), mib(p.v_bytes)) for p in m.parts] == printed
    assert mib(m.kv_bytes) == r["printed"]["kv_mib"] == 3090.0
    assert m.swa_cells == 768  # GGML_PAD(128 + 512, 256)


def test_gpt_oss_swa_cache_at_4096_l14_008():
    r = RECORDS["L14-008"]  # only the SWA cache's line is in the excerpt; "1/1 seqs" = one slot; build not shown
    m = llamacpp_memory(gguf_model("gpt-oss", r["arch_inferred"], n_head=64), n_ctx=4096, n_parallel=1)
    assert m is not None
    swa = m.parts[1]
    assert (swa.kind, swa.cells, swa.layers, mib(swa.k_bytes), mib(swa.v_bytes), mib(swa.bytes)) == (
        "swa", r["printed"]["swa_cells"], r["printed"]["kv_layers"], r["printed"]["k_mib"], r["printed"]["v_mib"],
        r["printed"]["swa_kv_mib"])


def test_qwen3_30b_a3b_fitted_context_l14_003():
    r = RECORDS["L14-003"]  # llama.cpp's fit-params README: --fit chose -c 4096; build 6895 (1 slot); F16 cache
    m = llamacpp_memory(config_model("Qwen__Qwen3-30B-A3B.json"), n_ctx=r["n_ctx"], build=6895)
    assert m is not None
    # The memory breakdown prints whole MiB; its context column is the KV cache (384 MiB on CUDA0).
    assert mib(m.kv_bytes) == r["printed"]["kv_mib"] == 384


SKIPPED = {
    "L14-004": "DeepSeek-V4 has its own cache (llama_kv_cache_dsv4) that this function does not model",
    "L14-005": "the excerpt has no KV size line",
    "L14-006": "the model and its architecture numbers are not in the excerpt",
    "L14-009": "the excerpt has the architecture but no KV size line (its q8_0 arithmetic is checked below)",
    "L14-010": "metadata only (split GGUF keys), no KV lines",
}


def test_every_record_is_compared_or_says_why_not():
    from tests.support.llamacpp_records import SETUPS  # KV and compute of these: tests/unit/test_llamacpp_plan.py

    compared = {"L14-001", "L14-002", "L14-003", "L14-008"} | set(SETUPS)
    assert set(RECORDS) == compared | set(SKIPPED) and not compared & set(SKIPPED)


def test_quantized_cache_rows_follow_ggml_block_sizes():
    # ggml-common.h: block_q8_0 = half + 32 int8 = 34 bytes per 32 values; block_q4_0 = half + 16 = 18 per 32.
    assert row_bytes("q8_0", 1024) == 1024 // 32 * 34 == 1088
    assert row_bytes("q4_0", 1024) == 576 and row_bytes("f16", 1024) == 2048 and row_bytes("q5_1", 64) == 48
    with pytest.raises(ValueError, match="blocks of 32"):
        row_bytes("q8_0", 80)
    with pytest.raises(ValueError, match="unknown"):
        row_bytes("q3_k", 1024)
    # L14-009's run: Mistral-Large-2411 (88 layers, 8 KV heads of 128), -c 4096 -fa -ctk q8_0 -ctv q8_0, build 4202.
    a = RECORDS["L14-009"]["arch"]
    m = llamacpp_memory(gguf_model("llama", a, n_head=96), n_ctx=4096, cache_type_k="q8_0", cache_type_v="q8_0",
                        build=4202, flash_attn=True)
    assert m is not None and (mib(m.k_bytes), mib(m.v_bytes)) == (374.0, 374.0)  # 4096 × 88 × 1088 B each
    mixed = llamacpp_memory(gguf_model("llama", a, n_head=96), n_ctx=4096, cache_type_k="q8_0", cache_type_v="q4_0",
                            build=4202, flash_attn=True)
    assert mixed is not None and mib(mixed.v_bytes) == 4096 * 88 * 576 / MiB == 198.0


def _qwen3(build: int | None, **options: Any) -> LlamaCppMemory:
    m = llamacpp_memory(gguf_model("qwen3", RECORDS["L14-001"]["arch"], n_head=16), build=build, **options)
    assert m is not None
    return m


def test_context_padding_follows_the_build():
    assert _qwen3(None, n_ctx=4000).kv_cells == 4096  # GGML_PAD(n_ctx, 256) since b6981
    assert _qwen3(5489, n_ctx=4000).kv_cells == 4000  # before: 32 without flash attention ...
    assert _qwen3(6699, n_ctx=4000, flash_attn=True).kv_cells == 4096  # ... 256 with it
    assert _qwen3(6699, n_ctx=4001).kv_cells == 4096  # b6325..b6980: FA auto, taken as on


def test_current_server_defaults_trained_context_and_four_unified_slots():
    m = _qwen3(None)
    assert (m.n_ctx, m.n_slots, m.kv_unified, m.kv_streams, m.kv_cells) == (40960, 4, True, 1, 40960)
    assert mib(m.kv_bytes) == 40960 * 28 * 2048 * 2 / MiB == 4480.0  # one cache shared: not × 4
    assert any("4 server slots" in a for a in m.assumptions) and any("trained" in a for a in m.assumptions)
    assert _qwen3(7000, n_parallel=1).n_slots == 4  # b6931..b7443 turned -np 1 into 4 unified slots
    assert _qwen3(7444, n_parallel=1).n_slots == 1


def test_split_streams_pad_each_slot():
    # unsloth PR 7530 (build 10107): ctx 1024 with 3 slots allocates 1536 cells, with 4 slots 1024.
    three, four = _qwen3(10107, n_ctx=1024, n_parallel=3), _qwen3(10107, n_ctx=1024, n_parallel=4)
    assert (three.kv_streams, three.kv_cells, three.kv_streams * three.kv_cells) == (3, 512, 1536)
    assert four.kv_streams * four.kv_cells == 1024
    assert three.kv_bytes == 1536 * 28 * 2048 * 2


def test_swa_cache_scales_with_unified_slots_and_swa_full():
    gpt = gguf_model("gpt-oss", RECORDS["L14-002"]["arch"], n_head=64)
    m = llamacpp_memory(gpt)  # current defaults: 131072 context, 4 unified slots
    assert m is not None and m.swa_cells == 1024  # GGML_PAD(min(131072, 128 × 4 + 512), 256)
    full = llamacpp_memory(gpt, n_ctx=8192, n_parallel=1, swa_full=True)
    assert full is not None and full.swa_cells == 8192
    old = llamacpp_memory(gpt, n_ctx=8192, build=5000)  # before b5429 SWA layers kept the whole context
    assert old is not None and len(old.parts) == 1 and old.parts[0].layers == 24 and old.parts[0].cells == 8192


def test_no_layout_no_answer():
    base = build_model_facts("x", source="local", revision=None, api=None, config=None, hf_quant_config=None,
                             files=[])
    assert llamacpp_memory(base) is None
