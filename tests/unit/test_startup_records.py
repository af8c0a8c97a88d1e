"""The table of public vLLM start-up records (tests/fixtures/vllm-startup): every figure a record claims vLLM
printed appears verbatim in the log lines it quotes, so the table can be trusted as ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

RECORDS_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "vllm-startup" / "records.jsonl"
RECORDS = [json.loads(line) for line in RECORDS_FILE.read_text().splitlines() if line.strip()]
FIGURES = ("model_loading_gib", "available_kv_cache_gib", "kv_cache_tokens", "gpu_blocks", "max_concurrency",
           "max_concurrency_at_len", "cuda_graph_gib")
OUTCOMES = {"started", "refused_kv", "oom", "aborted_after_kv"}


def spellings(value: float | int) -> set[str]:
    """How a log may print a number: as is, with thousands separators, or rounded to 1–4 decimals."""
    found = {str(value)}
    if isinstance(value, int):
        found.add(f"{value:,}")
    else:
        found |= {f"{value:.{digits}f}" for digits in (1, 2, 3, 4)}
    return found


def test_the_table_is_what_issue_11_asks_for():
    assert len(RECORDS) >= 25
    assert len({r["record_id"] for r in RECORDS}) == len(RECORDS)
    assert {r["outcome"] for r in RECORDS} <= OUTCOMES
    assert sum(r["outcome"] != "started" for r in RECORDS) >= 5  # runs that failed are in it too
    assert all(r["url"].startswith("https://") and r["source_quote"].strip() for r in RECORDS)


@pytest.mark.parametrize("record", RECORDS, ids=[r["record_id"] for r in RECORDS])
def test_every_printed_figure_is_in_the_quoted_log(record):
    printed = record["printed"]
    claims = {name: printed.get(name) for name in FIGURES}
    claims.update({f"profiling.{k}": v for k, v in (printed.get("profiling") or {}).items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)})
    missing = [f"{name}={value}" for name, value in claims.items()
               if value is not None and not any(s in record["source_quote"] for s in spellings(value))]
    assert missing == [], f"{record['record_id']}: not in its quote: {missing}"
