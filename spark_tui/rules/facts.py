"""The facts rules can test, with the kind of value each takes in a `when`/`unless` table.

kinds:
  str      equals (case-insensitive), or any of a list
  regex    re.search against the fact
  bool     equals
  number   a number (equals) or a comparison string such as ">0.85" or ">=2,<8"
  version  a PEP 440 specifier such as ">=0.10,<0.12" (compute capability too: ">=12.0,<13.0");
           `<` and `>` use plain version order, so 1.2.0rc0 is "<1.2.0"
  list     the fact is a list: any of the given values is in it
"""

from __future__ import annotations

FACT_KINDS: dict[str, str] = {
    # engine
    "engine": "str",
    "engine_version": "version",
    # hardware
    "hardware": "str",
    "gpu_name": "regex",
    "compute_capability": "version",
    "unified_memory": "bool",
    "gpus": "number",
    # checkpoint
    "repo": "regex",
    "model_type": "str",
    "architecture": "str",
    "multimodal": "bool",
    "moe": "bool",
    "moe_gated": "bool",
    "num_experts": "number",
    "attention": "str",
    "sliding_window": "bool",
    "hybrid": "bool",
    "formats": "list",
    "weight_format": "str",
    "quant_method": "str",
    "quant_scheme": "list",  # the scheme and, for mixed precision, every group's scheme
    "quant_producer": "regex",
    "weight_only": "bool",
    "quant_problem": "str",  # algo-without-method, unknown-method, unknown-algo, no-scheme
    "checkpoint_kv_cache_dtype": "str",
    "trust_remote_code": "bool",
    "gated": "bool",
    "params_total": "number",
    # the plan
    "kv_cache_dtype": "str",
    "tensor_parallel_size": "number",
    "gpu_memory_utilization": "number",
    "gpu_memory_utilization_set": "bool",
    "max_model_len": "number",
    "fits": "bool",
    "weights_fit": "bool",
    "startup_check_fails": "bool",
}
