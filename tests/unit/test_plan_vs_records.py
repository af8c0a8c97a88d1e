"""The whole memory plan against public vLLM start-up logs (tests/fixtures/vllm-startup/records.jsonl): each record
the plan can be made for is planned from the model's real config, the GPU's printed total and the reporter's
options, and compared with what vLLM printed and whether it started. The KV layout is also held alone against every
record that prints its KV memory with its tokens. bench/memory_records.py prints both tables."""

from __future__ import annotations

import statistics

import pytest

from spark_tui.advisor.memory import GIB, KV_TOKENS_BAND, plan_memory
from tests.support.startup_records import (
    LayoutRow,
    WeightsRow,
    compare,
    inputs,
    layout_compare,
    load,
    percentile,
    weights_compare,
)

RECORDS = load()
ROWS = {r["record_id"]: compare(r) for r in RECORDS}
PLANNED = [row for row in ROWS.values() if row.plan is not None]
LAYOUT = [x for x in map(layout_compare, RECORDS) if isinstance(x, LayoutRow)]


def test_enough_records_are_planned_and_every_skip_has_a_reason():
    assert len(PLANNED) >= 6 and len(LAYOUT) >= 8
    assert all(row.skipped for row in ROWS.values() if row.plan is None)
    assert all(isinstance(layout_compare(r), str) for r in RECORDS if r["record_id"] not in
               {x.record_id for x in LAYOUT})


@pytest.mark.parametrize("row", [r for r in PLANNED if r.fit_observed is not None], ids=lambda r: r.record_id)
def test_the_fit_call_matches_what_vllm_did(row):
    assert row.fit_predicted == row.fit_observed, (row.record_id, row.plan.kv_cache_tokens, row.observed_tokens)


@pytest.mark.parametrize("row", [r for r in PLANNED if r.observed_tokens], ids=lambda r: r.record_id)
def test_vllms_kv_tokens_fall_in_the_plans_range(row):
    low, high = row.plan.kv_cache_tokens_range
    assert low <= row.observed_tokens <= high, (row.record_id, low, row.observed_tokens, high)


def test_the_range_is_learnt_from_the_records_and_no_wider_than_they_need():
    # Whole-plan spread × layout spread, each end within 2 points of what the records need.
    plan_ratios = [r.kv_ratio for r in PLANNED if r.kv_ratio is not None]
    layout_ratios = [x.observed_tokens / x.predicted_tokens for x in LAYOUT if x.predicted_tokens]
    low, high = min(plan_ratios) * min(layout_ratios), max(plan_ratios) * max(layout_ratios)
    assert KV_TOKENS_BAND[0] <= low and high <= KV_TOKENS_BAND[1]
    assert low - KV_TOKENS_BAND[0] < 0.02 and KV_TOKENS_BAND[1] - high < 0.02


def test_kv_error_over_the_table_meets_the_issue():
    # Issue 11: median |error| ≤ 5 %, 80th percentile ≤ 15 % (tokens where vLLM printed them, else KV memory).
    errors = [r.kv_error_pct for r in PLANNED if r.kv_error_pct is not None]
    assert len(errors) >= 5
    assert statistics.median(abs(e) for e in errors) <= 5 and percentile(errors, 80) <= 15


def test_the_kv_layout_alone_meets_it_too():
    errors = [x.error_pct for x in LAYOUT if x.error_pct is not None]
    assert statistics.median(abs(e) for e in errors) <= 5 and percentile(errors, 80) <= 15


def _plan(record_id):
    given = inputs(next(r for r in RECORDS if r["record_id"] == record_id))
    return plan_memory(given.model, given.hardware, given.options)


def test_v0_profiles_max_model_len_tokens_so_the_activation_peak_grows_with_it():
    # I11-001/002: the same model and card at max-model-len 20,000 and 29,000; vLLM's peak grew by 0.92 GiB.
    grown = (_plan("I11-002").activation_bytes - _plan("I11-001").activation_bytes) / GIB
    assert 0.92 * 0.95 <= grown <= 0.92 * 1.05


def test_a_large_vocabulary_at_1024_sequences_is_what_refuses_gpt_oss_120b_on_an_h100():
    # I11-006 (0.10.1, H100 defaults 8192 tokens / 1024 sequences): weights 65.97 GiB of a 71.27 GiB budget, and
    # vLLM printed −2.14 GiB for the KV cache: 7.45 GiB of overhead, almost all the sampler's 1024 × 201,088 rows.
    plan = _plan("I11-006")
    assert plan.fits is False and abs(plan.overhead_bytes / GIB - 7.45) < 0.5


WEIGHTS = [x for x in map(weights_compare, RECORDS) if isinstance(x, WeightsRow)]


def test_the_plans_weights_match_model_loading_took():
    # Checkpoint size (its safetensors index) plus the kernel's padding, against vLLM's "Model loading took".
    assert len(WEIGHTS) >= 5
    errors = [w.error_pct for w in WEIGHTS]
    assert statistics.median(abs(e) for e in errors) <= 2.0 and percentile(errors, 80) <= 2.0, errors


def test_marlin_padding_explains_gpt_oss_on_ampere_and_hopper():
    # Without the padding the plan would say 60.77 GiB for gpt-oss-120b where vLLM printed 65.97 (Marlin, H100)
    # and 12.82 for gpt-oss-20b where it printed 13.72 (A100, where Marlin is the only MXFP4 MoE kernel).
    rows = {w.record_id: w for w in WEIGHTS}
    assert rows["I11-006"].padding_gib == pytest.approx(5.13, abs=0.01)
    assert rows["I11-022"].padding_gib == pytest.approx(0.855, abs=0.01)
    assert abs(rows["I11-006"].error_pct) < 0.5 and abs(rows["I11-022"].error_pct) < 0.5
    # The Triton backend (printed "Using Triton backend", vLLM 0.14.1) loads less; the plan stays on the safe side.
    assert 0 < rows["I11-008"].error_pct < 3
