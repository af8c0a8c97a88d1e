"""Files that must never be half-written or raced: atomic JSON writes and an exclusive lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temporary file beside `path`, then rename over it: readers see the old or the new file."""
    write_text_atomic(path, json.dumps(data, indent=1))


def write_text_atomic(path: Path, text: str) -> None:
    import tempfile  # only when writing

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing): one spark-tui process at a time in the block."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a")  # noqa: SIM115 (closed below, after the lock is released)
    except OSError as exc:  # the folder is a file, read-only, or its disk is full: one sentence, not a traceback
        from spark_tui.errors import StateWriteError

        why = "it is not a folder" if isinstance(exc, (FileExistsError, NotADirectoryError)) else exc.strerror or exc
        raise StateWriteError(f"Cannot use {path.parent}: {why}.",
                              "Free space there, fix its permissions, or set SPARK_TUI_STATE_DIR elsewhere.") from None
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
