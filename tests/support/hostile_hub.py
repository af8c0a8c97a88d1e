"""Hub answers the emulator never gives (an addition to tests/support/hub_emulator.py, which stays as it is):

- SilentHub: accepts connections and never answers (a hung server, a black-holing proxy).
- RewritingProxy: sits in front of the emulator and replaces the answers to chosen paths with raw bytes of our
  choice (HTML, cut-off or wrong-shaped JSON, a Content-Length longer than the body); everything else is relayed.
- closed_port(): a local port nobody listens on (connection refused).
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SilentHub:
    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    @property
    def connections(self) -> int:
        return len(self._held)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._held.append(conn)  # kept open, never read from or written to

    def close(self) -> None:
        self._sock.close()
        for conn in self._held:
            conn.close()


@dataclass
class Rewrite:
    pattern: re.Pattern[str]
    body: bytes
    content_type: str
    content_length: int | None  # announce this many bytes (more than the body: a short answer), None: the truth


class RewritingProxy:
    def __init__(self, upstream: str) -> None:
        self.rewrites: list[Rewrite] = []
        self.requests: list[tuple[str, str]] = []
        parsed = urlparse(upstream)
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy
            target = (parsed.hostname or "127.0.0.1", parsed.port or 80)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, pattern: str, body: bytes, content_type: str = "application/json",
               content_length: int | None = None) -> None:
        """Requests whose path matches `pattern` get `body` (status 200) instead of the emulator's answer."""
        self.rewrites.append(Rewrite(re.compile(pattern), body, content_type, content_length))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _ProxyHandler(BaseHTTPRequestHandler):
    owner: RewritingProxy
    target: tuple[str, int]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _handle(self) -> None:
        self.owner.requests.append((self.command, self.path))
        path = urlparse(self.path).path
        rewrite = next((r for r in self.owner.rewrites if r.pattern.search(path)), None)
        if rewrite is not None:
            self.send_response(200)
            self.send_header("Content-Type", rewrite.content_type)
            self.send_header("Content-Length", str(rewrite.content_length or len(rewrite.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(rewrite.body)
            if rewrite.content_length:  # promised more than it sends: drop the connection mid-answer
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
            return
        upstream = http.client.HTTPConnection(*self.target, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        upstream.request(self.command, self.path, headers=headers)
        response = upstream.getresponse()
        body = response.read()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(key, value)
        # A HEAD answer announces the length the GET would have.
        self.send_header("Content-Length", response.getheader("Content-Length", "0") if self.command == "HEAD"
                         else str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        upstream.close()
