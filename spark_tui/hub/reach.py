"""Is anything there at HF_ENDPOINT? One quick look before a Hub lookup, so that a refused or unresolvable Hub is
said at once.

huggingface_hub retries network errors inside its calls (`list_models` and `hf_hub_download` wait 1+2+4+8+8 s
between six attempts), and a refused connection or an unknown host name is a network error to it: without a
network a search took 23 s to fail. Its retries are right for a Hub that is there and flaky, so they stay; what
this module adds is the cheap question first: does the host name resolve, and does something accept a TCP
connection at its address (or at the proxy's, when one applies, as httpx would use it)? A clear no (refused, no
such host, no route) is `HubUnreachable` within milliseconds; a slow or hanging answer is not judged here (the
lookup runs, under its own total deadline).

Lookups come in bursts (the app loads its catalog four at a time; search runs as you type): concurrent callers
share one look, and its outcome is kept for a few seconds. A burst of lookups thus asks the resolver once, which
also matters on machines whose resolver drops concurrent queries (each drop cost 5 s there).
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import TypeVar
from urllib.parse import urlsplit

from spark_tui.deadline import start_daemon

REMEMBER_S = 3.0  # how long one look's outcome answers for everybody (a burst of lookups asks once)
LOOK_S = 3.0  # the longest a look may take before the lookup goes ahead without it
_DEFAULT_PORTS = {"http": 80, "https": 443}
T = TypeVar("T")
# A connection attempt that failed for one of these will fail again at once: the Hub is not reachable from here.
_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL,
                       errno.ENETDOWN, errno.EHOSTDOWN}


class HubUnreachable(ConnectionError):
    """Nothing can be reached at the endpoint's address (or its proxy's): refused, unknown host name, no route."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def address(endpoint: str) -> tuple[str, int] | None:
    """(host, port) a request to `endpoint` connects to: the proxy's when one applies, as httpx would use it
    (HTTP(S)_PROXY / ALL_PROXY, minus NO_PROXY). None when there is nothing to look at (no host, an odd URL)."""
    try:
        parts = urlsplit(endpoint)
        host, port = parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if not host or port is None:
        return None
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(host):
        try:
            via = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            via_host, via_port = via.hostname, via.port or _DEFAULT_PORTS.get(via.scheme, 1080)
        except ValueError:
            return None
        return (via_host, via_port) if via_host else None
    return host, port


def _look(host: str, port: int) -> str | None:
    """None when something accepted a connection (or the answer is not a clear no); else why not, in words."""
    try:
        socket.create_connection((host, port), timeout=LOOK_S).close()
    except socket.gaierror:  # unknown name, or no resolver answering ("temporary failure in name resolution")
        return "host name not found"
    except TimeoutError:  # silence: maybe a slow Hub, maybe a firewall; the lookup's own deadline decides
        return None
    except OSError as exc:
        if exc.errno == errno.ECONNREFUSED:
            return "connection refused"
        if exc.errno in _UNREACHABLE_ERRNOS:
            return "no route to it"
        return None
    return None


_lock = threading.Lock()
_looks: dict[tuple[str, int], tuple[float, Future[str | None]]] = {}


def _shared_look(where: tuple[str, int]) -> Future[str | None]:
    """The look in progress at `where`, or one finished less than REMEMBER_S ago, or a new one."""
    now = time.monotonic()
    with _lock:
        known = _looks.get(where)
        if known is not None and (not known[1].done() or now - known[0] < REMEMBER_S):
            return known[1]
        look: Future[str | None] = start_daemon(lambda: _look(*where), name="spark-tui-reach")
        _looks[where] = (now, look)
        return look


def forget() -> None:
    """Drop every remembered look (tests that bring a Hub up or down at the same address)."""
    with _lock:
        _looks.clear()


def call_hub(fn: Callable[[], T], seconds: float, name: str = "spark-tui-hub", endpoint: str | None = None) -> T:
    """fn() (a huggingface_hub call) within `seconds` in all: the look first (a clear no raises HubUnreachable at
    once), then the call under what is left of the deadline (DeadlineExceeded when it runs out)."""
    from spark_tui.deadline import call_with_deadline

    deadline = time.monotonic() + seconds
    ensure_reachable(endpoint or _endpoint(), seconds)
    return call_with_deadline(fn, max(deadline - time.monotonic(), 0.01), name=name)


def _endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def ensure_reachable(endpoint: str, seconds: float = LOOK_S) -> None:
    """Raise HubUnreachable when the endpoint (or its proxy) clearly cannot be reached; return when something is
    there, or when the look did not finish within `seconds` (at most LOOK_S): then the lookup itself goes ahead."""
    where = address(endpoint)
    if where is None:
        return
    try:
        why = _shared_look(where).result(max(0.0, min(seconds, LOOK_S)))
    except FuturesTimeout:
        return
    if why is not None:
        raise HubUnreachable(why)
