"""The Hub emulator, lying the ways a hostile or broken endpoint could: a model listing rewritten (a `sha` or file
names that climb out of the cache, a list instead of an object, sizes as strings), raw bytes instead of the
listing (truncated JSON, HTML, a body shorter than its Content-Length), and rewritten response headers on
`resolve` (an ETag that is a path). Everything else is the ordinary emulator."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

from tests.support.hub_emulator import HubEmulator, _Handler


class HostileHub(HubEmulator):
    def __init__(self) -> None:
        super().__init__()
        self.patch_info: Callable[[dict[str, Any]], Any] | None = None  # rewrites /api/models/<id>'s JSON
        self.raw_info: tuple[bytes, str, int | None] | None = None  # (body, content type, declared length)
        self.patch_header: Callable[[str, str, str], str] | None = None  # (url path, header, value) → value
        liar = self

        class Handler(_HostileHandler):
            hostile = liar
            hub = liar  # the emulator's own routing reads this one

        self.server.RequestHandlerClass = Handler

    def clear(self) -> None:
        super().clear()
        self.patch_info = self.raw_info = self.patch_header = None


class _HostileHandler(_Handler):
    hostile: HostileHub

    def _revision_ok(self, repo: Any, revision: str) -> bool:
        return True  # whatever commit it named, it serves

    def _model_info(self, repo_id: str, revision: str, blobs: bool) -> None:
        if self.hostile.raw_info is None:
            super()._model_info(repo_id, revision, blobs)
            return
        body, content_type, length = self.hostile.raw_info
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if length is not None and length > len(body):  # the rest never comes: the connection drops
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        patch = self.hostile.patch_info
        if patch is not None and status == 200 and self.path.startswith("/api/models/"):
            body = json.dumps(patch(json.loads(body))).encode()
        super()._send(status, body, headers, content_type)

    def send_header(self, keyword: str, value: str) -> None:
        patch = self.hostile.patch_header
        super().send_header(keyword, value if patch is None else patch(self.path, keyword, value))
