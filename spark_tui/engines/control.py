"""Starting and ending a server's processes (or container).

A server runs under `spark_tui.engines.runner` in its own session (start_new_session), so an SSH drop or the
launching process exiting does not kill it; its output goes to its log, how it ended to its exit file. Every process
of it carries its marker (engines/processes.py), so it is found again whatever happened to the runner. Stop = SIGTERM
to the process group, then SIGKILL, and a check that nothing of it is left before it says "stopped"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from spark_tui.engines import processes
from spark_tui.engines.logs import RUN_MARKER
from spark_tui.engines.records import ServerRecord
from spark_tui.errors import ServerStillRunningError, SparkTuiError


def start(argv: list[str], env: dict[str, str], log: Path, exit_file: Path, marker: str) -> tuple[Any, int]:
    """Start `argv` detached; (the runner's Popen, the log offset where this launch's output starts)."""
    exit_file.unlink(missing_ok=True)
    with open(log, "ab") as out:
        offset = out.tell()  # a log is kept across launches
        out.write(f"{RUN_MARKER}{' '.join(argv)}\n".encode())
        out.flush()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "spark_tui.engines.runner", str(exit_file), "--", *argv],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, **env, processes.MARKER: marker}, start_new_session=True, close_fds=True,
            )
        except OSError as exc:
            raise SparkTuiError(f"Cannot start {argv[0]}: {exc.strerror or exc}.") from None
    return process, offset


def alive(record: ServerRecord) -> bool:
    """Is the recorded runner still running (and still the same process, not a reused pid)?"""
    import psutil

    try:
        process = psutil.Process(record.pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(process.create_time() - record.started_at) < 5
    except psutil.Error:
        return False


def members(record: ServerRecord, marker: str) -> list[Any]:
    """The server's live processes (its group, marked as its own), whatever happened to its runner."""
    return processes.members(marker, record.pid) if record.pid > 0 else []


def running(record: ServerRecord, marker: str) -> bool:
    return alive(record) or bool(members(record, marker))


def recovered_pid(record: ServerRecord, marker: str) -> int:
    """For a damaged record: the group its processes really run in (their marker says which), else its pid."""
    found = members(record, marker) or processes.members(marker)
    return processes.group_of(found) or record.pid


def end(record: ServerRecord, marker: str, timeout: float) -> None:
    """End the server's whole group (and container) whatever happened to its runner; raise unless nothing of it is
    left and its port is closed."""
    had_something = bool(record.container) or running(record, marker)
    if record.container and record.docker:
        # The docker CLI's death would not end the container: ask docker itself, whatever the CLI's state.
        processes.docker_stop(record.docker, record.container, timeout)
    pgid = record.pid if alive(record) else processes.group_of(members(record, marker))
    if pgid is not None:
        processes.end_group(pgid, lambda: not running(record, marker), timeout)
    left = [p.pid for p in members(record, marker)] or ([record.pid] if alive(record) else [])
    if left:
        raise ServerStillRunningError(f"{record.name} is still running (pid {left[0]}) after SIGKILL.",
                                      f"End it yourself: kill -9 {left[0]}")
    if had_something and record.port and not processes.port_closed(record.host, record.port):
        where = f"its container {record.container} may still run" if record.container else "something listens"
        raise ServerStillRunningError(f"{record.name} is stopped but port {record.port} is still open: {where}.",
                                      f"See what listens there: ss -ltnp 'sport = :{record.port}'")


def end_started(process: Any, record: ServerRecord, marker: str) -> None:
    """A server whose record could not be saved: end it (a server nobody can find again is worse than none)."""
    processes.end_group(process.pid, lambda: process.poll() is not None and not members(record, marker), timeout=5.0)
