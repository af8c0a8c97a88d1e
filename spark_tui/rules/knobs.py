"""What a rule may add to a launch: each engine's own tuning knobs, and nothing else.

Rules are data that users (and, later, a remote source) supply, so they may only *suggest* settings that tune
the engine. Never binding (--host/--port), remote code, the model or tokenizer, keys, or any variable that
changes what gets loaded or executed (LD_PRELOAD, PYTHONPATH, PATH, *_PATH, HF_ENDPOINT, tokens).
The lists hold what the shipped rules use plus the engines' documented tuning knobs:
  vllm      `vllm serve` engine arguments (the ones spark-tui's own plan sets, and --kv-cache-memory-bytes,
            --enable-prefix-caching, --async-scheduling, --attention-backend, --moe-backend, --linear-backend,
            --quantization); variables from vllm/envs.py that pick MoE/FP4 kernels.
  trtllm    `trtllm-serve --help` sizing and parallelism options; TRT_LLM_DISABLE_LOAD_WEIGHTS_IN_PARALLEL
            (NVIDIA's DGX Spark playbook) and TRTLLM_MOE_BACKEND (TensorRT-LLM #12706).
  llamacpp  `llama-server --help` context, offload, batch, threads and KV-cache type options;
            GGML_CUDA_ENABLE_UNIFIED_MEMORY (ggml CUDA backend, llama.cpp #12934).

Some knobs exist only in some releases: HONOURED_ENV and Knob.honoured give the engine versions that read each one,
so a launch plan never sets what the chosen version ignores. The vLLM ranges come from the released source
distributions on PyPI (vllm/envs.py, engine/arg_utils.py, config/kernel.py in 0.14.0 and 0.16.0-0.34.0;
/work/research/issue10-vllm.md section 2): the MoE/FP4 variables were deprecated in 0.22.0 (PR #43148) and are gone
from 0.24.0 ("Unknown vLLM environment variable detected"); --moe-backend exists from 0.17.0, --linear-backend from
0.22.0. None means every release we know of (no bound was evidenced).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from spark_tui.rules.evaluate import version_holds


@dataclass(frozen=True)
class Knob:
    """A tuning setting rules may suggest, and the engine versions that read it."""

    names: tuple[str, ...]  # every spelling the engine accepts for it
    takes_value: bool = True
    honoured: str | None = None  # the engine versions that read it (a specifier); None: every release we know
    values: tuple[tuple[str, str | None], ...] = ()  # a closed set of values, each with the versions that accept it


# `--moe-backend` values for NVIDIA GPUs (the MoEBackend Literal in vllm/config/kernel.py), with the first release
# that accepts each; AMD-only values (aiter*, rdna3) are left out on purpose.
_MOE_BACKENDS = (
    *((name, ">=0.17") for name in ("auto", "triton", "deep_gemm", "cutlass", "flashinfer_trtllm", "flashinfer_cutlass",
                                    "flashinfer_cutedsl", "marlin")),
    ("emulation", ">=0.20"), ("triton_unfused", ">=0.21"), ("flashinfer_b12x", ">=0.22"), ("batched_triton", ">=0.27"),
    ("b12x", ">=0.29"),  # PR #52018; needs `pip install "vllm[b12x]"`
)


FLAGS: dict[str, tuple[Knob, ...]] = {
    "vllm": (
        Knob(("--gpu-memory-utilization",)), Knob(("--max-model-len",)), Knob(("--max-num-seqs",)),
        Knob(("--max-num-batched-tokens",)), Knob(("--tensor-parallel-size", "-tp")), Knob(("--kv-cache-dtype",)),
        Knob(("--kv-cache-memory-bytes",)), Knob(("--attention-backend",)),
        Knob(("--moe-backend",), honoured=">=0.17", values=_MOE_BACKENDS),
        Knob(("--linear-backend",), honoured=">=0.22"),
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

# The engine versions that read each variable (None: every release we know of).
HONOURED_ENV: dict[str, dict[str, str | None]] = {
    "vllm": {
        "VLLM_USE_FLASHINFER_MOE_FP4": "<0.24", "VLLM_USE_FLASHINFER_MOE_FP8": "<0.24",
        "VLLM_FLASHINFER_MOE_BACKEND": "<0.24", "VLLM_MXFP4_USE_MARLIN": "<0.24", "VLLM_NVFP4_GEMM_BACKEND": "<0.24",
        # still read by 0.34.0 (envs.py; DeepGEMM is used on SM12x from 0.24.0)
        "VLLM_MARLIN_INPUT_DTYPE": None, "VLLM_USE_DEEP_GEMM": None, "VLLM_MOE_USE_DEEP_GEMM": None,
        "VLLM_DISABLED_KERNELS": None,
        "VLLM_B12X_MOE_FP4_FORCE_A16": ">=0.29",  # PR #52018, with the b12x MoE backend
    },
}

ENV: dict[str, frozenset[str]] = {
    "vllm": frozenset(HONOURED_ENV["vllm"]),
    "trtllm": frozenset({"TRT_LLM_DISABLE_LOAD_WEIGHTS_IN_PARALLEL", "TRTLLM_MOE_BACKEND"}),
    "llamacpp": frozenset({"GGML_CUDA_ENABLE_UNIFIED_MEMORY"}),
}

# A number, a dtype or a backend name: no paths, spaces, shell syntax, or a leading '-' that could be a flag.
_VALUE = r"^[A-Za-z0-9][A-Za-z0-9_.:,+-]{0,63}$"  # compiled on first use (re caches it)


def plain_value(value: str) -> bool:
    return bool(re.match(_VALUE, value))


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
        if knob.values and value not in dict(knob.values):
            return groups, f"{value!r} is not a {name} value rules may suggest{_did_you_mean(value, dict(knob.values))}"
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


def _did_you_mean(value: str, choices: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(value, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(choices)})"


def env_honoured(engine: str, name: str) -> str | None:
    """The engine versions that read a variable (a specifier), or None for every release we know."""
    return HONOURED_ENV.get(engine, {}).get(name)


def flag_honoured(knob: Knob, tokens: tuple[str, ...]) -> str | None:
    """The engine versions that accept a flag with this value (e.g. --moe-backend b12x: >=0.29); a value's range
    always lies inside its flag's."""
    value = tokens[1] if len(tokens) == 2 else tokens[0].partition("=")[2]
    return dict(knob.values).get(value) or knob.honoured


def not_read_by(version: str | None, honoured: str | None) -> bool:
    """True when a setting read only by `honoured` versions may be ignored by `version` (unknown counts as ignored)."""
    if honoured is None:
        return False
    return version is None or version_holds(honoured, version) is not True


def uncovered_version(covered: str | None, honoured: str) -> str | None:
    """A version inside `covered` (None: every version) that `honoured` leaves out, or None when there is none.
    Both are unions of simple bounds, so testing each bound and the versions just either side of it is enough."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    candidates = {"0", "9999"}
    for text in (covered or "", honoured):
        for spec in SpecifierSet(text):
            try:
                bound = Version(spec.version.removesuffix(".*"))
            except InvalidVersion:
                continue
            candidates.add(str(bound))
            if not (bound.is_prerelease or bound.is_postrelease or bound.is_devrelease):
                candidates.update({f"{bound}.dev0", f"{bound}.post0"})
    for version in sorted(candidates, key=Version):
        if (covered is None or version_holds(covered, version)) and not version_holds(honoured, version):
            return version
    return None
