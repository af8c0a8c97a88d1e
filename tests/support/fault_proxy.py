"""A fault-injecting HTTP proxy in front of the Hub emulator: a real server on 127.0.0.1 that forwards every
request to the emulator, except those matching an injected fault, which it answers the way a broken, slow or
hostile Hub would: a status code (with or without X-Error-Code, with Retry-After), a hang, a trickle, a truncated,
oversized or wrong-typed body, a connection reset, a redirect loop.

    proxy = FaultProxy(emulator.url).start()
    proxy.inject(r"^/api/models/[^/]+/[^/]+$", "body", body=b"<html>oops</html>", content_type="text/html")
    HF_ENDPOINT=proxy.url spark-tui check …
"""

from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse

KINDS = ("status", "hang", "trickle", "truncate", "oversize", "body", "reset", "redirect_loop", "mangle")


@dataclass
class ProxyFault:
    pattern: re.Pattern[str]
    kind: str
    status: int | None = None  # "status": 500 unless given; "body": 200 unless given
    error_code: str | None = None
    retry_after: str | None = None
    body: bytes | None = None
    content_type: str = "application/json"
    declared_length: int | None = None  # body: promise this Content-Length, send the body, drop the connection
    seconds: float = 600.0  # hang: how long to hold the connection (the test ends long before)
    rate_bps: float = 64.0  # trickle
    keep_bytes: int = 20  # truncate: bytes of the real body sent before the connection closes
    extra_bytes: int = 64 << 20  # oversize: bytes of junk after a valid start
    mangle: Any = None  # mangle: a function (real body bytes) -> new body bytes, e.g. sizes turned into strings
    method: str | None = None  # only this method ("GET"/"HEAD"); None: both
    hits: int = 0


@dataclass
class FaultProxy:
    upstream: str
    faults: list[ProxyFault] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._release = threading.Event()  # set at stop: hanging handlers let go
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def inject(self, pattern: str, kind: str, **options: Any) -> ProxyFault:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind}")
        fault = ProxyFault(re.compile(pattern), kind, **options)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.requests.clear()
        self._release.set()
        self._release = threading.Event()

    def match(self, method: str, path: str) -> ProxyFault | None:
        with self._lock:
            self.requests.append((method, path))
            for fault in self.faults:
                if fault.method in (None, method) and fault.pattern.search(path):
                    fault.hits += 1
                    return fault
        return None


class _ProxyHandler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _handle(self) -> None:
        path = unquote(urlparse(self.path).path)
        fault = self.owner.match(self.command, path)
        if fault is None:
            self._forward()
            return
        getattr(self, f"_fault_{fault.kind}")(fault)

    # --- the real answer, from the emulator ---
    def _upstream(self) -> tuple[int, list[tuple[str, str]], bytes]:
        target = urlparse(self.owner.upstream)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, headers=headers)
        response = conn.getresponse()
        body = response.read() if self.command != "HEAD" else b""
        conn.close()
        return response.status, response.getheaders(), body

    def _send_head(self, status: int, headers: list[tuple[str, str]], length: int | str) -> None:
        """The upstream's status and headers, with our own Content-Length (a HEAD answer keeps the upstream's)."""
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                self.send_header(key, value)
        if self.command == "HEAD":
            length = next((v for k, v in headers if k.lower() == "content-length"), "0")
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _forward(self, body_override: bytes | None = None) -> None:
        status, headers, body = self._upstream()
        if body_override is not None:
            body = body_override
        self._send_head(status, headers, len(body))
        if self.command != "HEAD":
            self.wfile.write(body)

    # --- the faults ---
    def _fault_status(self, fault: ProxyFault) -> None:
        body = b'{"error": "injected"}'
        self.send_response(fault.status or 500)
        self.send_header("Content-Type", "application/json")
        if fault.error_code:
            self.send_header("X-Error-Code", fault.error_code)
            self.send_header("X-Error-Message", "injected")
        if fault.retry_after is not None:
            self.send_header("Retry-After", fault.retry_after)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _fault_hang(self, fault: ProxyFault) -> None:
        # Accept, read the request, never answer: a black-holed server.
        self.owner._release.wait(fault.seconds)
        self.close_connection = True

    def _fault_trickle(self, fault: ProxyFault) -> None:
        status, headers, body = self._upstream()
        self._send_head(status, headers, len(body))
        if self.command == "HEAD":
            return
        release = self.owner._release
        for i in range(len(body)):
            if release.wait(1 / fault.rate_bps):
                break
            try:
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
            except OSError:
                break
        self.close_connection = True

    def _fault_truncate(self, fault: ProxyFault) -> None:
        # Promise the whole body, send the first bytes, close: a short Content-Length read.
        status, headers, body = self._upstream()
        self._send_head(status, headers, len(body))
        if self.command != "HEAD":
            self.wfile.write(body[:fault.keep_bytes])
            self.wfile.flush()
        self.close_connection = True

    def _fault_oversize(self, fault: ProxyFault) -> None:
        self.send_response(200)
        self.send_header("Content-Type", fault.content_type)
        self.send_header("Content-Length", str(fault.extra_bytes + 1))
        self.end_headers()
        if self.command == "HEAD":
            return
        chunk = b"[" * (1 << 16)
        sent = 0
        try:
            self.wfile.write(b"{")
            while sent < fault.extra_bytes and not self.owner._release.is_set():
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass
        self.close_connection = True

    def _fault_body(self, fault: ProxyFault) -> None:
        body = fault.body or b""
        self.send_response(fault.status or 200)
        self.send_header("Content-Type", fault.content_type)
        self.send_header("Content-Length", str(fault.declared_length or len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        if fault.declared_length:  # promised more than it sends: drop the connection mid-answer
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

    def _fault_mangle(self, fault: ProxyFault) -> None:
        if self.command == "HEAD":
            self._forward()
            return
        _, _, body = self._upstream()
        self._forward(body_override=fault.mangle(body))

    def _fault_reset(self, fault: ProxyFault) -> None:
        # SO_LINGER with a zero timeout makes close() send RST: "connection reset by peer".
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _fault_redirect_loop(self, fault: ProxyFault) -> None:
        self.send_response(302)
        self.send_header("Location", self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()


def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(url: str, seconds: float = 5.0) -> None:
    target = urlparse(url)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection((target.hostname, target.port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} is not listening")
