"""What a server's log says: how far start-up got, and which known issues its lines match."""

from __future__ import annotations

import os
import re
from pathlib import Path


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
