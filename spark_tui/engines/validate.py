"""Checks on what a user names for a server before it becomes a path or a socket: a server name is one safe path
component (its record, log and exit files are named after it), a port is one this user may bind."""

from __future__ import annotations

import os
import re

from spark_tui.errors import UsageError

MAX_NAME = 64
# Letters, digits, dot, underscore, dash; not starting with a dot (no "..", no hidden files), no separators.
_NAME = re.compile(rf"[A-Za-z0-9_-][A-Za-z0-9._-]{{0,{MAX_NAME - 1}}}")


def server_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        shown = name if len(name) <= MAX_NAME else name[:MAX_NAME] + "…"
        raise UsageError(f"'{shown}' is not a usable server name.",
                         f"Use up to {MAX_NAME} letters, digits, '.', '_' or '-', not starting with '.'.")
    return name


def port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise UsageError(f"--port must be between 1 and 65535, not {value}.")
    if value < 1024 and os.geteuid() != 0:
        raise UsageError(f"Port {value} is privileged (below 1024): only root may listen there.",
                         "Pick a port from 1024 up, e.g. --port 8000, or --port auto.")
    return value


def at_least_one(**counts: int) -> None:
    """Counts given on the command line (`bench -n`, `logs -n`): each must be 1 or more."""
    for option, value in counts.items():
        if value < 1:
            raise UsageError(f"--{option.replace('_', '-')} must be at least 1, not {value}.")
