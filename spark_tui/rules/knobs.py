"""What a rule may add to a launch: each engine's own tuning knobs, and nothing else.

Rules are data that users (and, later, a remote source) supply, so they may only *suggest* settings that tune
the engine. Never binding (--host/--port), remote code, the model or tokenizer, keys, or any variable that
changes what gets loaded or executed (LD_PRELOAD, PYTHONPATH, PATH, *_PATH, HF_ENDPOINT, tokens).
The lists hold what the shipped rules use plus the engines' documented tuning knobs:
  vllm      `vllm serve` engine arguments (the ones spark-tui's own plan sets, and --kv-cache-memory-bytes,
            --enable-prefix-caching, --async-scheduling, --attention-backend, --moe-backend, --quantization);
            variables from vllm/envs.py that pick MoE/FP4 kernels.
  trtllm    `trtllm-serve --help` sizing and parallelism options; TRT_LLM_DISABLE_LOAD_WEIGHTS_IN_PARALLEL
            (NVIDIA's DGX Spark playbook) and TRTLLM_MOE_BACKEND (TensorRT-LLM #12706).
  llamacpp  `llama-server --help` context, offload, batch, threads and KV-cache type options;
            GGML_CUDA_ENABLE_UNIFIED_MEMORY (ggml CUDA backend, llama.cpp #12934).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Knob:
    names: tuple[str, ...]  # every spelling the engine accepts for it
    takes_value: bool = True


FLAGS: dict[str, tuple[Knob, ...]] = {
    "vllm": (
        Knob(("--gpu-memory-utilization",)), Knob(("--max-model-len",)), Knob(("--max-num-seqs",)),
        Knob(("--max-num-batched-tokens",)), Knob(("--tensor-parallel-size", "-tp")), Knob(("--kv-cache-dtype",)),
        Knob(("--kv-cache-memory-bytes",)), Knob(("--attention-backend",)), Knob(("--moe-backend",)),
        Knob(("--quantization", "-q")), Knob(("--enforce-eager",), False), Knob(("--enable-prefix-caching",), False),
        Knob(("--async-scheduling",), False),
    ),
    "trtllm": (
        Knob(("--max_batch_size",)), Knob(("--max_num_tokens",)), Knob(("--max_seq_len",)), Knob(("--tp_size",)),
        Knob(("--pp_size",)), Knob(("--kv_cache_free_gpu_memory_fraction",)),
    ),
    "llamacpp": (
        Knob(("-c", "--ctx-size")), Knob(("-ngl", "--n-gpu-layers")), Knob(("-b", "--batch-size")),
        Knob(("-ub", "--ubatch-size")), Knob(("-np", "--parallel")), Knob(("-t", "--threads")),
        Knob(("-ctk", "--cache-type-k")), Knob(("-ctv", "--cache-type-v")), Knob(("--no-mmap",), False),
        Knob(("--mlock",), False),
    ),
}

ENV: dict[str, frozenset[str]] = {
    "vllm": frozenset({
        "VLLM_USE_FLASHINFER_MOE_FP4", "VLLM_USE_FLASHINFER_MOE_FP8", "VLLM_FLASHINFER_MOE_BACKEND",
        "VLLM_MXFP4_USE_MARLIN", "VLLM_MARLIN_INPUT_DTYPE", "VLLM_USE_DEEP_GEMM",
    }),
    "trtllm": frozenset({"TRT_LLM_DISABLE_LOAD_WEIGHTS_IN_PARALLEL", "TRTLLM_MOE_BACKEND"}),
    "llamacpp": frozenset({"GGML_CUDA_ENABLE_UNIFIED_MEMORY"}),
}

# A number, a dtype or a backend name: no paths, spaces, shell syntax, or a leading '-' that could be a flag.
_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:,+-]{0,63}$")


def plain_value(value: str) -> bool:
    return bool(_VALUE.match(value))


def _knob(engine: str, name: str) -> Knob | None:
    return next((k for k in FLAGS.get(engine, ()) if name in k.names), None)


def _allowed_flags(engine: str) -> str:
    return ", ".join("/".join(k.names) for k in FLAGS.get(engine, ()))


Group = tuple[Knob, tuple[str, ...]]  # a knob and its tokens, such as ("--max-num-seqs", "8")


def flag_groups(engine: str, flags: tuple[str, ...] | list[str]) -> tuple[list[Group], str | None]:
    """Split a rule's flags into groups, or say what is wrong with them."""
    groups: list[Group] = []
    i = 0
    while i < len(flags):
        token = flags[i]
        name, has_inline, inline = token.partition("=") if token.startswith("--") else (token, "", "")
        knob = _knob(engine, name)
        if not token.startswith("-"):
            return groups, f"{token!r} is a value with no flag before it (the engine would take it as an argument)"
        if knob is None:
            return groups, (f"{name!r} is not a tuning flag rules may suggest for {engine} "
                            f"(allowed: {_allowed_flags(engine)})")
        if not knob.takes_value:
            if has_inline:
                return groups, f"{name!r} takes no value"
            groups.append((knob, (token,)))
            i += 1
            continue
        value = inline if has_inline else (flags[i + 1] if i + 1 < len(flags) else "")
        if not value:
            return groups, f"{name!r} needs a value"
        if not plain_value(value):
            return groups, f"{value!r} is not a plain value for {name!r} (a number or a name)"
        groups.append((knob, (token,) if has_inline else (token, value)))
        i += 1 if has_inline else 2
    return groups, None


def env_problem(engine: str, name: str, value: str) -> str | None:
    if name not in ENV.get(engine, ()):
        return (f"{name!r} is not a tuning variable rules may suggest for {engine} "
                f"(allowed: {', '.join(sorted(ENV.get(engine, ())))})")
    if not plain_value(value):
        return f"{value!r} is not a plain value for {name} (a number or a name)"
    return None
