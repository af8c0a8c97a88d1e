"""A server's log, whatever the engine: its last lines, and which known issues they match. What an engine's
lines mean (start-up phases, figures) is its adapter's (spark_tui/engines/vllm.py)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
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


def phase_of(phases: Sequence[tuple[re.Pattern[str], str]], lines: list[str]) -> str:
    """The first phase (phases are listed furthest first) whose pattern a line matches."""
    for pattern, label in phases:
        for line in reversed(lines):
            match = pattern.search(line)
            if match:
                return label.format(*match.groups())
    return "starting"
