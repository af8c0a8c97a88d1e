"""A total deadline for a blocking call that has no deadline of its own (huggingface_hub's calls retry inside
themselves, and a server that accepts a connection and never answers can hold one for minutes).

The call runs in a daemon thread; the caller waits at most `seconds`. A call still stuck then is abandoned: a daemon
thread never keeps the process alive, so the CLI can exit and the app can quit at once. The caller waits on a
condition, which Ctrl-C interrupts immediately.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import TypeVar

T = TypeVar("T")


class DeadlineExceeded(TimeoutError):
    """The call did not finish within its deadline (it may still be running, abandoned, in its thread)."""


def start_daemon(fn: Callable[[], T], name: str = "spark-tui-deadline") -> Future[T]:
    """Run fn now in a daemon thread; its result or exception arrives in the future. Not a ThreadPoolExecutor:
    its threads are joined at exit, so a call stuck in huggingface_hub's retries would keep the process alive."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to whoever waits on the future
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def call_with_deadline(fn: Callable[[], T], seconds: float, name: str = "spark-tui-deadline") -> T:
    try:
        return start_daemon(fn, name).result(seconds)  # a Condition wait: Ctrl-C interrupts it at once
    except FuturesTimeout:
        raise DeadlineExceeded(f"no answer within {seconds:g} s") from None
