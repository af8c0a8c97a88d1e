"""A server's log, whatever the engine: one launch's lines (start-up and the latest), and which known issues they
match. What an engine's
lines mean (start-up phases, figures) is its adapter's (spark_tui/engines/vllm.py)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RUN_MARKER = "--- spark-tui: "  # the line engines/control.py writes before each launch's output


def run_lines(path: Path, start: int = 0, keep: Callable[[str], bool] = lambda line: True,
              head_bytes: int = 512 * 1024, tail_bytes: int = 256 * 1024) -> list[str]:
    """One launch's log lines that `keep` keeps, read from `start` (where the launch began writing): all of them
    while they are short; else its first `head_bytes` (start-up: phases, KV cache size, the figures), a line
    saying how much is left out, and its last `tail_bytes`. Bounded however long the server runs, and start-up
    never scrolls away. With no offset (an older record) the launch starts at the log's last launch line."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = start if 0 <= start <= size else 0  # a log cut by hand
            fh.seek(start)
            if size - start <= head_bytes + tail_bytes:
                head, tail, gap = fh.read(), b"", 0
            else:
                head = fh.read(head_bytes)
                head = head[:head.rfind(b"\n") + 1]
                fh.seek(size - tail_bytes)
                tail = fh.read()
                tail = tail[tail.find(b"\n") + 1:]
                gap = size - start - len(head) - len(tail)
    except OSError:
        return []
    first, last = head.decode(errors="replace").splitlines(), tail.decode(errors="replace").splitlines()
    for part in (last, first):  # this launch's lines only
        marker = next((i for i in range(len(part) - 1, -1, -1) if part[i].startswith(RUN_MARKER)), None)
        if marker is not None:
            if part is last:
                return [line for line in last[marker:] if keep(line)]
            first = first[marker:]
            break
    lines = [line for line in first if keep(line)]
    if gap:
        lines.append(f"… {gap / 1024**2:.1f} MiB of log not shown (spark-tui logs shows it all) …")
    return lines + [line for line in last if keep(line)]


def diagnose(lines: list[str], rules: list | None, engine: str | None = None) -> list[dict[str, str]]:
    """Known issues whose log patterns appear in the log: rule, title, and the line that matched. With `engine`, a
    rule written for another engine is not asked: the same CUDA message ("no kernel image …") has another cause and
    another fix in vLLM than in llama.cpp."""
    found: list[dict[str, str]] = []
    seen: set[str] = set()
    for rule in rules or []:
        if engine is not None and not _for_engine(rule, engine):
            continue
        for pattern in rule.log_patterns:
            regex = re.compile(pattern)
            line = next((ln for ln in reversed(lines) if regex.search(ln)), None)
            if line is not None and rule.id not in seen:
                seen.add(rule.id)
                found.append({"rule": rule.id, "title": rule.generic_title, "line": line.strip()[:300]})
    return found


def _for_engine(rule: Any, engine: str) -> bool:
    wanted = (getattr(rule, "when", None) or {}).get("engine")
    if wanted is None:
        return True
    names = wanted if isinstance(wanted, list) else [wanted]
    return any(str(name).lower() == engine for name in names)


def phase_of(phases: Sequence[tuple[re.Pattern[str], str]], lines: list[str]) -> str:
    """The first phase (phases are listed furthest first) whose pattern a line matches."""
    for pattern, label in phases:
        for line in reversed(lines):
            match = pattern.search(line)
            if match:
                return label.format(*match.groups())
    return "starting"
