"""A total deadline for a blocking call that has no deadline of its own (huggingface_hub's calls retry inside
themselves, and a server that accepts a connection and never answers can hold one for minutes).

The call runs in a daemon thread; the caller waits at most `seconds`. A call still stuck then is abandoned: a daemon
thread never keeps the process alive, so the CLI can exit and the app can quit at once. The caller's wait is an
Event wait, which Ctrl-C interrupts immediately.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class DeadlineExceeded(TimeoutError):
    """The call did not finish within its deadline (it may still be running, abandoned, in its thread)."""


def call_with_deadline(fn: Callable[[], T], seconds: float, name: str = "spark-tui-deadline") -> T:
    done = threading.Event()
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the waiting caller, who re-raises it
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name=name, daemon=True).start()
    if not done.wait(seconds):
        raise DeadlineExceeded(f"no answer within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
