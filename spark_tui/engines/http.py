"""One shared HTTP client for talking to local engines: creating an httpx client per request costs an SSL
context and a connection each time, which a once-a-second dashboard cannot afford."""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_client: Any = None


def client() -> Any:
    global _client
    with _lock:
        if _client is None:
            import httpx  # HTTP to engines

            _client = httpx.Client(timeout=2.0, trust_env=False)  # engines are local: no proxies
        return _client


# The once-a-second /metrics scrape goes through the standard library's http.client on kept-alive connections:
# measured on the 2-core dev machine, an httpx GET costs 2.1 ms of CPU against 0.6 ms here, and the scrape is
# most of what the Servers screen spends (BENCHMARKS.md). Everything else keeps using httpx.
_idle: dict[tuple[str, int], list[Any]] = {}


def get_text(url: str, timeout: float = 1.0) -> tuple[int, str] | None:
    """(status, body) of a GET to a local engine, or None if it did not answer."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    key = (parts.hostname or "127.0.0.1", parts.port or 80)
    with _lock:
        pool = _idle.setdefault(key, [])
        conn = pool.pop() if pool else None
    for attempt in range(2):  # a kept-alive connection the server has closed meanwhile: once more on a new one
        fresh = conn is None
        if conn is None:
            conn = http.client.HTTPConnection(key[0], key[1], timeout=timeout)
        try:
            conn.request("GET", parts.path or "/")
            response = conn.getresponse()
            body = response.read().decode(errors="replace")
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = None
            if fresh or attempt:
                return None
            continue
        if response.will_close:
            conn.close()
        else:
            with _lock:
                _idle.setdefault(key, []).append(conn)
        return response.status, body
    return None


def serves(url: str, model: str, headers: dict[str, str] | None = None) -> bool:
    """The OpenAI-style readiness vLLM and trtllm-serve share: GET /health is 200 and GET /v1/models lists `model`."""
    import httpx

    try:
        if client().get(url + "/health", timeout=1.0).status_code != 200:
            return False
        models = client().get(url + "/v1/models", timeout=1.0, headers=headers or {})
        return models.status_code == 200 and any(m.get("id") == model for m in models.json().get("data", []))
    except (httpx.HTTPError, ValueError, AttributeError):
        return False
