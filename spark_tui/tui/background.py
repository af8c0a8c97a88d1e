"""Blocking calls (the Hub) for the app's async workers, made in daemon threads.

Textual's thread workers run in asyncio's default executor, which is joined when the app's loop closes: a worker
stuck on the Hub kept the process alive after `q` had blanked the screen. An async worker awaiting a daemon thread
is cancelled at quit, and the abandoned thread never keeps the process alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def in_daemon_thread(fn: Callable[..., T], *args: Any) -> T:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.cancelled():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def run() -> None:
        try:
            value, error = fn(*args), None
        except BaseException as exc:  # handed to the awaiting worker
            value, error = None, exc
        with contextlib.suppress(RuntimeError):  # the app has closed its loop meanwhile: nobody waits any more
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=run, name="spark-tui-hub-worker", daemon=True).start()
    return await future
