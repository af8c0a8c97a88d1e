"""The memory plan against every public vLLM start-up record (tests/fixtures/vllm-startup/records.jsonl).

    python bench/memory_records.py [--markdown]

Prints, per record, the plan's KV tokens and available KV memory next to what vLLM printed, the errors, and the
fit call against the outcome; then the figures issue 11 asks for (median and 80th-percentile KV-token error,
fit calls right) over the records that can be planned, and why the others cannot.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.startup_records import compare, load, percentile


def _num(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markdown", action="store_true", help="print the per-record table as Markdown")
    args = parser.parse_args()
    rows = [compare(record) for record in load()]
    planned = [r for r in rows if r.plan is not None]
    sep = " | " if args.markdown else "  "
    head = ["record", "model", "GPU", "vLLM", "outcome", "KV tokens plan", "printed", "err %", "KV GiB plan",
            "printed", "err %", "fit plan", "fit real"]
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print(sep.join(head))
    for r in planned:
        plan = r.plan
        assert plan is not None
        cells = [r.record_id, r.model[:34], r.gpu[-22:], r.version, r.outcome, _num(plan.kv_cache_tokens, ","),
                 _num(r.observed_tokens, ","), _num(r.tokens_error_pct, "+.1f"),
                 _num(plan.kv_cache_bytes / 2**30, ".2f"), _num(r.observed_kv_gib, ".2f"),
                 _num(r.kv_gib_error_pct, "+.1f"), str(plan.fits), str(r.fit_observed)]
        print(("| " + sep.join(cells) + " |") if args.markdown else sep.join(cells))
    token_errors = [r.tokens_error_pct for r in planned if r.tokens_error_pct is not None and r.fit_observed]
    kv_errors = [r.kv_gib_error_pct for r in planned if r.kv_gib_error_pct is not None and r.fit_observed]
    calls = [r for r in planned if r.fit_observed is not None]
    right = sum(r.fit_predicted == r.fit_observed for r in calls)
    print()
    print(f"records: {len(rows)}; planned: {len(planned)}; skipped: {len(rows) - len(planned)}")
    if token_errors:
        print(f"KV tokens (started runs, n={len(token_errors)}): median |error| "
              f"{statistics.median(abs(e) for e in token_errors):.1f} %, 80th percentile "
              f"{percentile(token_errors, 80):.1f} %")
    if kv_errors:
        median = statistics.median(abs(e) for e in kv_errors)
        print(f"available KV GiB (started runs, n={len(kv_errors)}): median |error| {median:.1f} %, "
              f"80th percentile {percentile(kv_errors, 80):.1f} %")
    print(f"fit calls right: {right} of {len(calls)}")
    reasons: dict[str, list[str]] = {}
    for r in rows:
        if r.skipped:
            reasons.setdefault(r.skipped, []).append(r.record_id)
    for reason, ids in sorted(reasons.items(), key=lambda item: -len(item[1])):
        print(f"skipped ({len(ids)}): {reason}: {', '.join(ids)}")


if __name__ == "__main__":
    main()
