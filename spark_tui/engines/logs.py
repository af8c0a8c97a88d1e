"""What a server's log says: how far start-up got, and which known issues its lines match."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any


def tail(path: Path, max_bytes: int = 256 * 1024) -> list[str]:
    """The log's last lines (its last 256 KiB: enough for start-up and any traceback, cheap every second)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            return fh.read().decode(errors="replace").splitlines()
    except OSError:
        return []


_PHASES = (
    (re.compile(r"Application startup complete|Starting vLLM API server"), "serving"),
    (re.compile(r"Capturing CUDA graph"), "capturing CUDA graphs"),
    (re.compile(r"GPU KV cache size: ([\d,]+) tokens"), "KV cache {0} tokens"),
    (re.compile(r"Model loading took ([\d.]+) GiB"), "weights loaded ({0} GiB)"),
    (re.compile(r"Loading weights|Loading model|Loading safetensors"), "loading weights"),
)


def progress(lines: list[str]) -> str:
    """The furthest start-up phase the log shows."""
    for pattern, label in _PHASES:
        for line in reversed(lines):
            match = pattern.search(line)
            if match:
                return label.format(*match.groups())
    return "starting"


def diagnose(lines: list[str], rules: list | None) -> list[dict[str, str]]:
    """Known issues whose log patterns appear in the log: rule, title, and the line that matched."""
    found: list[dict[str, str]] = []
    seen: set[str] = set()
    for rule in rules or []:
        for pattern in rule.log_patterns:
            regex = re.compile(pattern)
            line = next((ln for ln in reversed(lines) if regex.search(ln)), None)
            if line is not None and rule.id not in seen:
                seen.add(rule.id)
                found.append({"rule": rule.id, "title": rule.generic_title, "line": line.strip()[:300]})
    return found


GIB = 1024**3
# What vLLM prints at start-up (V1 wording first, then V0's), and how it says it ran out of memory.
_FIGURES = {
    "weights": re.compile(r"(?:Model loading took|Loading model weights took) (-?[\d.]+) (?:GiB|GB)"),
    "kv_bytes": re.compile(r"Available KV cache memory: (-?[\d.]+) GiB|the rest of the memory reserved for KV "
                           r"Cache is (-?[\d.]+) ?GiB|\bkv_cache_size=(-?[\d.]+)GiB"),
    "kv_tokens": re.compile(r"GPU KV cache size: ([\d,]+) tokens|stored in KV cache \((\d+)\)"),
    "gpu_blocks": re.compile(r"# (?:GPU|cuda) blocks: (\d+)"),
    "cudagraph": re.compile(r"Graph capturing finished in [\d.]+ secs?, took (-?[\d.]+) GiB"),
    "mml_fit": re.compile(r"estimated maximum model length is (\d+)"),
    "version": re.compile(r"vLLM API server version (\S+)|\u2588 version (\S+)|\bvLLM version (\d\S*)"),
}
_REFUSED_KV = re.compile(r"larger than the available KV cache memory|larger than the maximum number of tokens that "
                         r"can be stored in KV cache|No available memory for the cache blocks|To serve at least one "
                         r"request with the models?'s max seq len")
_OOM = re.compile(r"CUDA out of memory|OutOfMemoryError|CUDA error: out of memory|NV_ERR_NO_MEMORY")
_STARTED = re.compile(r"Application startup complete|Starting vLLM API server")


def startup_figures(lines: list[str], block_size: int = 16) -> dict[str, Any]:
    """The figures one launch's log printed (sizes in bytes; None where it printed none) and its outcome so far:
    "started", "refused_kv" (the KV cache too small for one request, or none at all), "oom", or None (not yet).
    With tensor parallelism every rank prints: the smallest KV figure is the one vLLM uses, the largest weights."""
    found: dict[str, list[float]] = {key: [] for key in _FIGURES if key != "version"}
    version = None
    for line in lines:
        for key, pattern in _FIGURES.items():
            match = pattern.search(line)
            if not match:
                continue
            value = next(g for g in match.groups() if g is not None)
            if key == "version":
                version = version or value
            else:
                found[key].append(float(value.replace(",", "")))

    def gib(key: str, smallest: bool) -> int | None:
        return int((min if smallest else max)(found[key]) * GIB) if found[key] else None

    tokens = int(min(found["kv_tokens"])) if found["kv_tokens"] else None
    if tokens is None and found["gpu_blocks"]:  # V0 prints blocks, not tokens
        tokens = int(min(found["gpu_blocks"])) * block_size
    kv_bytes = gib("kv_bytes", True)
    text = "\n".join(lines)
    outcome = None
    if _STARTED.search(text):
        outcome = "started"
    elif _REFUSED_KV.search(text) or (kv_bytes is not None and kv_bytes <= 0):
        outcome = "refused_kv"
    elif _OOM.search(text):
        outcome = "oom"
    return {"outcome": outcome, "version": version, "weights_bytes": gib("weights", False), "kv_cache_bytes": kv_bytes,
            "kv_cache_tokens": tokens, "cudagraph_bytes": gib("cudagraph", False),
            "max_model_len_fit": int(min(found["mml_fit"])) if found["mml_fit"] else None}
