"""Executables that stand in for real ones (`vllm`, `docker`): a shell script that runs one of the stand-ins
in tests/support with this interpreter, so code under test finds and runs it exactly as it would the real one."""

from __future__ import annotations

import sys
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent


def stand_in(path: Path, script: str) -> Path:
    """Write an executable at `path` that runs tests/support/`script` with the given arguments."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\nexec {sys.executable} {SUPPORT / script} \"$@\"\n")
    path.chmod(0o755)
    return path
