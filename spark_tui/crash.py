"""The last resort: an exception nobody turned into a sentence is a bug. Its traceback goes to a report file in
the state folder (never to the terminal), with the command line minus anything secret."""

from __future__ import annotations

import re
import sys
import time
import traceback
from pathlib import Path

# Options whose value is a secret, variables whose name says it holds one (docker's `-e NAME=VALUE`), and strings
# that look like Hugging Face tokens wherever they appear.
_SECRET_OPTIONS = ("--api-key", "--token", "--hf-token")
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD", re.IGNORECASE)
_TOKEN = re.compile(r"hf_[A-Za-z0-9]{8,}")


def redact(argv: list[str]) -> list[str]:
    """The argv with every secret value replaced by *** (for reports, `ps`, anything shown or kept)."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        name, eq, _ = arg.partition("=")
        if name in _SECRET_OPTIONS:
            if eq:
                arg = f"{name}=***"
            else:
                hide_next = True
        elif eq and not name.startswith("-") and _SECRET_NAME.search(name):
            arg = f"{name}=***"
        out.append(_TOKEN.sub("hf_***", arg))
    return out


def save_report(exc: BaseException, argv: list[str]) -> Path | None:
    """Write the report; its path, or None when it cannot be written (a full disk must not raise here too)."""
    from spark_tui import __version__
    from spark_tui.paths import state_dir

    text = (
        f"spark-tui {__version__}, Python {sys.version.split()[0]} on {sys.platform}\n"
        f"time: {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n"
        f"command: {' '.join(redact(argv))}\n\n"
        + _TOKEN.sub("hf_***", "".join(traceback.format_exception(exc)))
    )
    try:
        folder = state_dir() / "crash-reports"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{id(exc) & 0xFFFF:04x}.txt"
        path.write_text(text)
        return path
    except Exception:
        return None
