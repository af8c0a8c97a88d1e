"""What the command line's planning flags mean to the advisor: shared by `check` and `serve`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from spark_tui.planning import AdviceRequest


def report_rule_problems(result: Any) -> None:
    for problem in result.problems:  # a broken user file is reported; the other rules still apply
        sys.stderr.write(f"spark-tui: rules: {problem}\n")


def advice_request(args: argparse.Namespace, **changes: Any) -> Any:
    """The advisor request the planning flags describe (`changes` override fields, e.g. the port `serve` chose)."""
    request = AdviceRequest(
        model=args.model, revision=args.revision, engine=args.engine, engine_version=args.engine_version,
        hardware=args.hardware, gpus=args.gpus, gpu_memory_gib=args.gpu_memory_gib,
        tensor_parallel_size=args.tensor_parallel_size, gpu_memory_utilization=args.gpu_memory_utilization,
        nodes=getattr(args, "nodes", 1), layout=getattr(args, "layout", "auto"),
        distributed=getattr(args, "distributed", "auto"),
        max_model_len=args.max_model_len, kv_cache_dtype=args.kv_cache_dtype,
        max_num_batched_tokens=args.max_num_batched_tokens, max_num_seqs=args.max_num_seqs,
        enforce_eager=args.enforce_eager, trust_remote_code=args.trust_remote_code, host=args.host,
        port=getattr(args, "port", 8000), rules=tuple(args.rules or ()), offline=args.offline, refresh=args.refresh,
        gguf_file=getattr(args, "gguf_file", None), quant=getattr(args, "quant", None))
    return replace(request, **changes)
