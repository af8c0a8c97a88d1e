"""The memory plan against every public vLLM start-up record (tests/fixtures/vllm-startup/records.jsonl).

    python bench/memory_records.py [--markdown]

Three tables:
- the whole plan: weights (the checkpoint's size plus kernel padding where the fixtures know the size, else as vLLM
  printed them, or the config's parameters for a 16-bit checkpoint), overheads, KV memory, KV tokens and the fit
  call, next to what vLLM printed and the outcome;
- the weights alone: the checkpoint's size plus the padding the plan adds, against "Model loading took";
- the KV layout alone: the tokens the plan's layout gives for the KV memory vLLM itself printed (no weights or
  overheads involved), for the records that print both.
Then the figures issue 11 asks for (median and 80th-percentile |error|, fit calls right), and why the other records
cannot be planned.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.startup_records import (
    LayoutRow,
    WeightsRow,
    compare,
    layout_compare,
    load,
    percentile,
    weights_compare,
)


def _num(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _table(head: list[str], rows: list[list[str]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for cells in rows:
            print("| " + " | ".join(cells) + " |")
        return
    widths = [max(len(c) for c in column) for column in zip(head, *rows, strict=False)]
    for cells in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip())


def _spread(label: str, errors: list[float]) -> None:
    if errors:
        print(f"{label} (n={len(errors)}): median |error| {statistics.median(abs(e) for e in errors):.1f} %, "
              f"80th percentile {percentile(errors, 80):.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    args = parser.parse_args()
    records = load()
    rows = [compare(record) for record in records]
    planned = [r for r in rows if r.plan is not None]
    print("Whole plan\n")
    _table(["record", "model", "vLLM", "outcome", "KV tokens plan", "printed", "err %", "KV GiB plan", "printed",
            "err %", "fit plan", "fit real"],
           [[r.record_id, r.model[:34], r.version, r.outcome, _num(r.plan.kv_cache_tokens, ","),
             _num(r.observed_tokens, ","), _num(r.tokens_error_pct, "+.1f"),
             _num(r.plan.kv_cache_bytes / 2**30, ".2f"), _num(r.observed_kv_gib, ".2f"),
             _num(r.kv_gib_error_pct, "+.1f"), str(r.plan.fits), str(r.fit_observed)]
            for r in planned if r.plan is not None], args.markdown)
    weights = [x for x in map(weights_compare, records) if isinstance(x, WeightsRow)]
    print("\nWeights alone (checkpoint + padding vs 'Model loading took', per rank)\n")
    _table(["record", "model", "GPU", "checkpoint GiB", "padding", "plan", "printed", "err %"],
           [[w.record_id, w.model[:34], w.gpu[:24], f"{w.checkpoint_gib:.2f}", f"{w.padding_gib:.2f}",
             f"{w.predicted_gib:.2f}", f"{w.observed_gib:.2f}", f"{w.error_pct:+.1f}"] for w in weights],
           args.markdown)
    layout = [x for x in map(layout_compare, records) if isinstance(x, LayoutRow)]
    print("\nKV layout alone (vLLM's printed KV memory in, tokens out)\n")
    _table(["record", "model", "vLLM", "KV GiB printed", "tokens plan", "printed", "err %"],
           [[x.record_id, x.model[:34], x.version, f"{x.kv_gib:.2f}", _num(x.predicted_tokens, ","),
             f"{x.observed_tokens:,}", _num(x.error_pct, "+.1f")] for x in layout], args.markdown)
    calls = [r for r in planned if r.fit_observed is not None]
    right = sum(r.fit_predicted == r.fit_observed for r in calls)
    print(f"\nrecords: {len(rows)}; whole plan: {len(planned)}; weights: {len(weights)}; layout alone: {len(layout)}")
    _spread("whole plan, KV tokens", [r.tokens_error_pct for r in planned if r.tokens_error_pct is not None])
    _spread("whole plan, available KV GiB", [r.kv_gib_error_pct for r in planned if r.kv_gib_error_pct is not None])
    _spread("KV layout alone, tokens", [x.error_pct for x in layout if x.error_pct is not None])
    _spread("weights alone", [w.error_pct for w in weights])
    print(f"fit calls right: {right} of {len(calls)}")
    # The baseline other tools use: KV = total × utilization − weights, no overheads.
    naive_errors, naive_right = [], 0
    for r in planned:
        assert r.plan is not None
        naive_kv = (r.plan.budget_bytes - r.plan.weights_bytes) / 2**30
        if r.observed_kv_gib and r.observed_kv_gib > 0:
            naive_errors.append((naive_kv - r.observed_kv_gib) / r.observed_kv_gib * 100)
        if r.fit_observed is not None and r.plan.max_model_len_fit is not None:
            naive_fits = naive_kv * 2**30 >= (r.plan.kv_bytes_per_token or 0) * (r.plan.max_model_len or 1)
            naive_right += naive_fits == r.fit_observed
    _spread("baseline (total × util − weights), available KV GiB", naive_errors)
    print(f"baseline fit calls right: {naive_right} of {len(calls)}")
    reasons: dict[str, list[str]] = {}
    for r in rows:
        if r.skipped:
            reasons.setdefault(r.skipped, []).append(r.record_id)
    print("\nnot planned:")
    for reason, ids in sorted(reasons.items(), key=lambda item: -len(item[1])):
        print(f"- {reason}: {', '.join(ids)}")


if __name__ == "__main__":
    main()
