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
    "nodes": "number",  # machines planned together (check --nodes N)
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
    "pipeline_parallel_size": "number",
    "distributed": "str",  # across nodes: "mp" (vLLM's --nnodes) or "ray"; "none" on one node
    "gpu_memory_utilization": "number",
    "gpu_memory_utilization_set": "bool",
    "max_model_len": "number",
    "fits": "bool",
    "memory_tight": "bool",
    "weights_fit": "bool",
    "startup_check_fails": "bool",
}

# Closed sets: every value a fact can take, as spark_tui/hub, the advisor and the CLI produce it. A rule (or a case)
# naming anything else can never match, so lint says so with a "did you mean". tests/unit/test_rules_lint.py checks
# these against the code that makes the facts (hub/quant.py, hub/weights.py, hub/arch.py, advisor.types.ENGINES).
ENGINES = ("vllm", "trtllm", "llamacpp")
CLOSED_VALUES: dict[str, tuple[str, ...]] = {
    "engine": ENGINES,
    "quant_method": ("compressed-tensors", "modelopt", "mxfp4", "awq", "gptq", "fp8", "bitsandbytes", "gguf", "none"),
    "quant_scheme": (
        "nvfp4", "nvfp4a16", "nvfp4-w4a8", "mxfp4", "mxfp4-w4a8", "mxfp8", "fp8", "fp8-block", "fp8-weight-only",
        "w4a16-int", "w4a8-int", "w8a16-int", "w8a8-int", "nf4", "fp4", "int8", "mixed", "gguf", "bf16", "fp16", "fp32",
    ),
    "quant_problem": ("none", "algo-without-method", "unknown-method", "unknown-algo", "no-scheme"),
    "attention": ("mha", "gqa", "mqa", "mla"),
    "weight_format": ("safetensors", "bin", "gguf"),
    "formats": ("safetensors", "bin", "gguf"),
    "kv_cache_dtype": ("auto", "bfloat16", "float16", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc", "int8"),  # cli.py
    "checkpoint_kv_cache_dtype": ("fp8", "int8"),
    "distributed": ("none", "mp", "ray"),
}
# Open sets (new architectures appear every month): only a near miss of a name the code knows is a problem.
KNOWN_VALUES: dict[str, tuple[str, ...]] = {
    "model_type": ("deepseek_v2", "deepseek_v3", "deepseek_v32", "deepseek_mtp", "kimi_k2", "kimi_linear", "qwen2",
                   "qwen3", "qwen3_moe", "gpt_oss", "llama4", "llama4_text"),
}
REFERENCE_STATES = ("open", "closed", "merged", "draft")  # a GitHub issue or pull request, as last read

# Values the advisor passes to evaluate() besides the facts (spark_tui/advisor/__init__.py: _context); rule texts
# may quote them, and any fact, as {placeholders}.
CONTEXT_KEYS = (
    "moe_activation", "formats_text", "quant_scheme_text", "gpu_memory_utilization", "memory_gib", "budget_gib",
    "weights_gib", "overhead_gib", "kv_cache_gib", "kv_cache_tokens", "max_model_len", "max_model_len_fit",
    "max_model_len_safe", "kv_tokens_low", "kv_tokens_high", "startup_free_gib", "startup_requested_gib",
)
