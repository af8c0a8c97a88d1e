"""`spark-tui calibration ls / export`: what launches printed at start-up, next to what the plan predicted."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from spark_tui.errors import UsageError

GIB = 1024**3


def add_parsers(sub: Any) -> None:
    calibration = sub.add_parser("calibration", help="what launches here printed at start-up vs what was predicted")
    calibration_sub = calibration.add_subparsers(dest="calibration_command", parser_class=type(calibration))
    ls = calibration_sub.add_parser("ls", help="observations: model, engine, hardware, options, predicted vs "
                                               "observed KV tokens, error")
    ls.add_argument("--json", action="store_true")
    export = calibration_sub.add_parser("export", help="write the observations as JSON lines a user can share")
    export.add_argument("--output", "-o", type=Path, metavar="FILE", help="write here (default: standard output)")


def cmd_calibration(args: argparse.Namespace) -> int:
    from spark_tui import calibration

    if args.calibration_command is None:
        raise UsageError("Say what to do: spark-tui calibration ls, or spark-tui calibration export.")
    calibration.settle()  # launches whose logs now say how they went
    observations = calibration.load()
    if args.calibration_command == "export":
        return _export([o.to_json() for o in observations], args.output)
    if args.json:
        print(json.dumps([o.to_json() for o in observations], indent=2))
        return 0
    if not observations:
        print("No observations yet. Each server spark-tui starts adds one when its log shows how start-up went.")
        return 0
    print(f"{'WHEN':10} {'MODEL':34} {'ENGINE':12} {'HARDWARE':14} {'OPTIONS':30} {'PREDICTED':>10} "
          f"{'OBSERVED':>10} {'ERROR':>7}  OUTCOME")
    for o in observations:
        data = o.to_json()
        predicted, observed = data["predicted"]["kv_cache_tokens"], data["observed"]["kv_cache_tokens"]
        error = "-" if data["error_pct"] is None else f"{data['error_pct']:+.1f}%"
        engine = f"{o.engine} {o.engine_version or '?'}"
        print(f"{o.at[:10]:10} {_cut(o.model, 34):34} {_cut(engine, 12):12} "
              f"{_cut(_hardware(o.hardware), 14):14} {_cut(_options(o.options), 30):30} {_tokens(predicted):>10} "
              f"{_tokens(observed):>10} {error:>7}  {o.outcome}")
    return 0


def _export(entries: list[dict[str, Any]], output: Path | None) -> int:
    text = "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries)
    if output is None:
        sys.stdout.write(text)
        return 0
    if output.is_dir():
        raise UsageError(f"--output {output} is a folder.", "Name a file, e.g. --output calibration.jsonl")
    from spark_tui.files import write_text_atomic

    try:
        write_text_atomic(output, text)
    except OSError as exc:
        raise UsageError(f"Cannot write {output}: {exc.strerror or exc}.") from None
    sys.stderr.write(f"spark-tui: {len(entries)} observation(s) written to {output}\n")
    return 0


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _tokens(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _hardware(hardware: dict[str, Any]) -> str:
    memory = hardware.get("memory_bytes")
    return f"{hardware.get('name')}" + (f" {memory / GIB:.0f}G" if isinstance(memory, int | float) else "")


def _options(options: dict[str, Any]) -> str:
    """The options that change memory, short: tp, util, max-model-len, seqs, batched tokens, KV dtype, eager."""
    parts = [f"tp{options['tensor_parallel_size']}", f"u{options['gpu_memory_utilization']}",
             f"len {options['max_model_len']}", f"seqs {options['max_num_seqs']}",
             f"mnbt {options['max_num_batched_tokens']}"]
    if options["kv_cache_dtype"] != "auto":
        parts.append(f"kv {options['kv_cache_dtype']}")
    if options["enforce_eager"]:
        parts.append("eager")
    return " ".join(parts)
