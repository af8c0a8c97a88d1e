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
