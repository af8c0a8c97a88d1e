"""llama.cpp's memory plan (spark_tui/advisor/llamacpp_plan.py): each term, the default GGUF variant, and the whole
plan against the public llama-server start-up logs (tests/fixtures/llamacpp-startup/records.jsonl)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from spark_tui.advisor import PlanOptions, advise
from spark_tui.advisor.gguf_fit import choose_variant, variant_fits
from spark_tui.advisor.llamacpp_memory import llamacpp_memory
from spark_tui.advisor.llamacpp_plan import (
    CUDA_CONTEXT_BYTES,
    FIT_MARGIN_BYTES,
    cache_type,
    compute_buffers,
    llama_build,
    plan_llamacpp,
)
from spark_tui.hardware import resolve_hardware
from spark_tui.hub.gguf import GGUFVariant
from tests.support.llamacpp_records import SETUPS, compare, gguf_model, load

MiB = 1024 * 1024
GiB = 1024 * MiB
RECORDS = load()
QWEN3_8B = {"n_layer": 36, "n_head": 32, "n_head_kv": 8, "n_embd_head_k": 128, "n_embd_head_v": 128,
            "n_embd": 4096, "n_vocab": 151936, "n_ctx_train": 40960}
LLAMACPP = PlanOptions(engine="llamacpp", engine_version="12464")


def qwen3_8b(size: int = 5_027_783_488, variants: tuple[GGUFVariant, ...] = ()):
    m = gguf_model("qwen3", QWEN3_8B, size)
    return replace(m, gguf_variants=variants, gguf_choice=variants[0].file if variants else m.gguf_choice)


# --- each record: KV to the MiB, compute buffers as close as the model claims --------------------------------------

@pytest.mark.parametrize("rid", sorted(SETUPS))
def test_record_kv_cache_is_reproduced(rid):
    row = compare(RECORDS[rid])
    assert row is not None and row.kv_printed is not None
    assert round(row.kv_computed, 2) == row.kv_printed


@pytest.mark.parametrize("rid", sorted(r for r, s in SETUPS.items() if s.full_offload))
def test_record_compute_buffers_with_every_layer_on_the_gpu(rid):
    row = compare(RECORDS[rid])
    assert row is not None and row.device_printed is not None and row.host_printed is not None
    # The docstring of compute_buffers() states these bounds; a record outside them must change it.
    assert row.device_error is not None and -0.02 <= row.device_error <= 0.0
    assert row.host_error is not None and abs(row.host_error) < 0.005


@pytest.mark.parametrize("rid", sorted(r for r, s in SETUPS.items() if not s.full_offload))
def test_record_with_weights_on_the_cpu_reserves_more_than_the_model(rid):
    row = compare(RECORDS[rid])
    assert row is not None and row.device_printed is not None
    assert row.device_computed < row.device_printed  # staging copies are not modelled: said, not hidden
    assert SETUPS[rid].why_not_full


# --- the terms ------------------------------------------------------------------------------------------------------

def test_compute_without_flash_attention_is_the_kq_scores_of_every_head():
    m = qwen3_8b()
    mem = llamacpp_memory(m, n_ctx=32768, n_parallel=1, build=12464)
    assert mem is not None
    device, host, _ = compute_buffers(m, mem, flash_attn=False)
    assert device == 512 * 4 * (32768 * 33 + 4 * 4096)  # f32 scores of 32 heads + the mask, one 512-token ubatch
    assert host == 512 * 4 * (32768 + 4096) + 151936 * 4  # the f32 mask and embeddings, and the output row
    fa_device, fa_host, _ = compute_buffers(m, mem, flash_attn=True)
    assert fa_device == 512 * 4 * (151936 + 4096)  # the logits dominate once the KQ matrix is gone
    assert fa_host == host


def test_compute_shrinks_with_a_context_below_one_ubatch_and_counts_slots_outputs():
    m = qwen3_8b()
    mem = llamacpp_memory(m, n_ctx=256, n_parallel=4, kv_unified=True, build=12464)
    assert mem is not None
    device, host, _ = compute_buffers(m, mem, flash_attn=True)
    assert device == 256 * 4 * (151936 + 4096)  # n_tokens = min(n_ctx, n_ubatch)
    assert host == 256 * 4 * (256 + 4096) + 151936 * 4 * 4


def test_unknown_vocabulary_is_an_assumption_not_a_guess_left_unsaid():
    m = replace(qwen3_8b(), vocab_size=None)
    mem = llamacpp_memory(m, n_ctx=4096, n_parallel=1)
    assert mem is not None
    _, _, notes = compute_buffers(m, mem, flash_attn=True)
    assert any("vocabulary size unknown" in n for n in notes)


def test_cache_types_and_builds():
    assert [cache_type(t) for t in ("auto", "bfloat16", "q8_0", "Q4_0", "fp8")] == ["f16", "bf16", "q8_0", "q4_0",
                                                                                    "f16"]
    assert [llama_build(v) for v in ("b6699", "6699", None, "0.2.0-dev", "")] == [6699, 6699, None, None, None]


def test_plan_terms_on_gb10():
    hw = resolve_hardware("gb10")
    plan = plan_llamacpp(qwen3_8b(), hw, LLAMACPP)
    assert plan is not None and plan.llamacpp is not None
    d = plan.llamacpp
    assert plan.weights_bytes == 5_027_783_488  # the file, all layers on the GPU
    assert plan.kv_cache_bytes == d.kv_cache_bytes == 40960 * 36 * 1024 * 2 * 2  # 4 unified slots: not × 4
    assert plan.overhead_bytes == d.compute_bytes + CUDA_CONTEXT_BYTES
    assert (d.n_ctx, d.n_parallel, d.kv_unified, d.flash_attn, d.default_parallel) == (40960, 4, True, True, True)
    assert plan.budget_bytes == int(hw.memory_bytes * 0.85) + 1 or plan.budget_bytes == -(-hw.memory_bytes * 85 // 100)
    assert plan.fits and plan.max_model_len == 40960 and plan.max_model_len_source == "model"
    assert any("page cache" in a for a in plan.assumptions)


def test_plan_reduces_the_context_to_what_fits_and_says_when_nothing_does():
    hw = resolve_hardware("gb10")
    # 103 GB (95.9 GiB) of weights leave ~5 GiB of the 101.6 GiB budget: less than the 5.6 GiB of 40,960 tokens.
    big = plan_llamacpp(qwen3_8b(103 * 10**9), hw, LLAMACPP)
    assert big is not None and big.fits and big.max_model_len_source == "reduced"
    assert big.max_model_len is not None and big.max_model_len % 256 == 0 and big.max_model_len < 40960
    used = big.weights_bytes + big.overhead_bytes + big.kv_cache_bytes
    assert used <= big.budget_bytes
    too_big = plan_llamacpp(qwen3_8b(120 * 10**9), hw, LLAMACPP)
    assert too_big is not None and too_big.fits is False and not too_big.weights_fit
    given = plan_llamacpp(qwen3_8b(103 * 10**9), hw, replace(LLAMACPP, max_model_len=40960))
    assert given is not None and given.fits is False and given.max_model_len == 40960


def test_discrete_gpu_budget_keeps_llamacpp_fit_margin_and_splits_over_gpus():
    hw = resolve_hardware("h100", gpus=2)
    plan = plan_llamacpp(qwen3_8b(), hw, LLAMACPP)
    assert plan is not None and hw.memory_bytes is not None
    assert plan.utilization_source == "default" and hw.memory_bytes - plan.budget_bytes <= FIT_MARGIN_BYTES
    assert plan.weights_bytes == -(-5_027_783_488 // 2)  # layers split evenly (-sm layer)
    assert any("2 GPUs" in a for a in plan.assumptions)


def test_quantized_cache_turns_flash_attention_on_and_shrinks_the_kv():
    hw = resolve_hardware("gb10")
    plan = plan_llamacpp(qwen3_8b(), hw, replace(LLAMACPP, kv_cache_dtype="q4_0", max_num_seqs=1))
    assert plan is not None and plan.llamacpp is not None
    assert plan.llamacpp.flash_attn and plan.llamacpp.cache_type_v == "q4_0"
    assert plan.kv_cache_bytes == 40960 * 36 * (1024 // 32 * 18) * 2


# --- the default variant --------------------------------------------------------------------------------------------

def _v(name: str, quant: str, gb: float) -> GGUFVariant:
    return GGUFVariant(name, quant, int(gb * 10**9), (name,))


def test_default_variant_is_the_largest_that_fits_preferring_k_quants_among_near_equal_sizes():
    hw = resolve_hardware("gb10")
    vs = (_v("a-Q4_K_M.gguf", "Q4_K_M", 5.0), _v("a-Q8_0.gguf", "Q8_0", 60.0), _v("a-Q6_K.gguf", "Q6_K", 58.0),
          _v("a-BF16.gguf", "BF16", 115.0))
    m = qwen3_8b(variants=vs)
    fits = variant_fits(m, hw, LLAMACPP)
    assert [f.fits for f in fits] == [True, True, True, False]
    chosen, any_fit = choose_variant(m, hw, LLAMACPP, fits)
    assert any_fit and chosen is not None and chosen.quant == "Q6_K"  # within 5 % of Q8_0, and a K-quant
    far = (_v("a-Q4_K_M.gguf", "Q4_K_M", 5.0), _v("a-Q8_0.gguf", "Q8_0", 60.0), _v("a-Q6_K.gguf", "Q6_K", 50.0))
    m2 = qwen3_8b(variants=far)
    chosen2, _ = choose_variant(m2, hw, LLAMACPP, variant_fits(m2, hw, LLAMACPP))
    assert chosen2 is not None and chosen2.quant == "Q8_0"  # not near-equal: the larger wins


def test_the_whole_context_is_preferred_to_a_larger_variant_with_a_shrunk_one():
    hw = resolve_hardware("gb10")
    # 104 GB fits only with a short context; 90 GB holds the whole 40,960 tokens (5.6 GiB of cache).
    vs = (_v("a-Q8_0.gguf", "Q8_0", 104.0), _v("a-Q6_K.gguf", "Q6_K", 90.0))
    m = qwen3_8b(variants=vs)
    fits = variant_fits(m, hw, LLAMACPP)
    assert [f.fits for f in fits] == [True, True]
    chosen, _ = choose_variant(m, hw, LLAMACPP, fits)
    assert chosen is not None and chosen.quant == "Q6_K"
    asked = choose_variant(m, hw, replace(LLAMACPP, max_model_len=4096), fits)[0]
    assert asked is not None and asked.quant == "Q8_0"  # a short context was asked for: the largest that fits it


def test_advice_plans_the_chosen_variant_and_its_launch_command():
    hw = resolve_hardware("gb10")
    vs = (_v("a-Q4_K_M.gguf", "Q4_K_M", 5.0), _v("a-Q8_0.gguf", "Q8_0", 9.0))
    advice = advise(replace(qwen3_8b(variants=vs), id="org/a-GGUF", source="hub"), hw, LLAMACPP, [])
    assert advice.model.gguf_choice == "a-Q8_0.gguf" and advice.model.quantization.scheme == "Q8_0"
    assert advice.memory is not None and advice.memory.weights_bytes == 9 * 10**9
    assert advice.launch is not None and advice.launch.argv[3:5] == ("--hf-file", "a-Q8_0.gguf")
    picked = advise(replace(qwen3_8b(variants=vs), id="org/a-GGUF", source="hub", gguf_asked=True), hw,
                    LLAMACPP, [])
    assert picked.model.gguf_choice == "a-Q4_K_M.gguf"  # what the user picked stays
