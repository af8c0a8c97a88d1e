"""Which processes are a server's own, ending them, and checking they are gone.

A server runs as its runner's process group (the runner leads it: start_new_session). Every process of it carries
SPARK_TUI_SERVER=<its record's path> in its environment (inherited by the engine and its workers), so it is found
when the runner was killed with -9 or the record lost its pid, and a reused pid is never taken for one of ours."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

MARKER = "SPARK_TUI_SERVER"


def members(marker: str, pgid: int | None = None) -> list[psutil.Process]:
    """This server's live processes: those carrying `marker`, in group `pgid` when it is known."""
    import psutil

    found = []
    for process in psutil.process_iter():
        try:
            if pgid is not None and os.getpgid(process.pid) != pgid:
                continue
            if process.status() != psutil.STATUS_ZOMBIE and process.environ().get(MARKER) == marker:
                found.append(process)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return found


def group_of(processes: list[psutil.Process]) -> int | None:
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            return os.getpgid(process.pid)
    return None


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def end_group(pgid: int, gone: Callable[[], bool], timeout: float) -> None:
    """SIGTERM to the group, SIGKILL to what is left after `timeout`; returns when `gone()` or 5 s after that."""
    signal_group(pgid, signal.SIGTERM)
    if _wait(gone, timeout):
        return
    signal_group(pgid, signal.SIGKILL)
    _wait(gone, 5.0)


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def port_closed(host: str, port: int, seconds: float = 3.0) -> bool:
    """Nothing accepts connections on host:port (waiting up to `seconds`: a container's proxy lets go last)."""
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host

    def refused() -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return False
        except OSError:
            return True

    return _wait(refused, seconds)


def docker_stop(docker: str, container: str, timeout: float) -> None:
    """A container is not in our process group: only docker ends it."""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run([docker, "stop", "-t", str(int(timeout)), container], capture_output=True,
                       timeout=timeout + 15, check=False)
