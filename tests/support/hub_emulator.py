"""A local Hugging Face Hub emulator: a real HTTP server on 127.0.0.1 that huggingface_hub talks to through
HF_ENDPOINT. It serves the model API (with file metadata), `resolve` (HEAD/GET/Range with the headers the
client needs: X-Repo-Commit, ETag, X-Linked-Etag/Size, X-Error-Code), and the search listing; it answers
401/403/404/429/500 and slow responses on demand, and logs every request.

Run it by hand:  python -m tests.support.hub_emulator --port 8765   (then HF_ENDPOINT=http://127.0.0.1:8765)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tests.support import fixture_repos

VALID_TOKEN = "hf_test_token"
_LFS_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pth", ".pt")
_BLOCK = 1 << 16


@dataclass
class Fault:
    pattern: re.Pattern[str]
    status: int | None = None
    times: int | None = 1  # None: forever
    delay: float = 0.0
    error_code: str | None = None
    method: str | None = None  # only requests of this method (e.g. "GET": a HEAD for metadata passes)
    cut_after: int | None = None  # send this many bytes of a file's body, then drop the connection
    rate_bps: float | None = None  # send a file's body at this speed


@dataclass
class Repo:
    id: str
    # content; a size for synthetic weight files; or (real head, size): a file that starts with real bytes (a GGUF
    # header) and goes on with synthetic ones up to a real model's size, never held in memory
    files: dict[str, bytes | int | tuple[bytes, int]]
    sha: str
    gated: str | bool = False
    private: bool = False
    downloads: int = 0
    likes: int = 0
    license: str | None = None
    safetensors: dict[str, Any] | None = None
    tags: list[str] = field(default_factory=list)

    def size(self, path: str) -> int:
        value = self.files[path]
        if isinstance(value, tuple):
            return value[1]
        return value if isinstance(value, int) else len(value)

    def content(self, path: str, start: int = 0, end: int | None = None) -> bytes:
        value = self.files[path]
        if isinstance(value, bytes):
            return value[start:end]
        if isinstance(value, tuple):
            head, size = value
            end = size if end is None else min(end, size)
            real = head[start:end]
            return real + self._synthetic(path, size, start + len(real), end) if start + len(real) < end else real
        return self._synthetic(path, value, start, end)

    def _synthetic(self, path: str, value: int, start: int, end: int | None) -> bytes:
        # Synthetic weights: a deterministic byte pattern, generated on demand.
        end = value if end is None else min(end, value)
        seed = hashlib.sha256(f"{self.id}/{path}".encode()).digest()
        block = (seed * (_BLOCK // len(seed) + 1))[:_BLOCK]
        out = bytearray()
        pos = start
        while pos < end:
            offset = pos % _BLOCK
            take = min(_BLOCK - offset, end - pos)
            out += block[offset:offset + take]
            pos += take
        return bytes(out)

    def etag(self, path: str) -> tuple[str, bool]:
        """(etag, is_lfs): git blob sha1 for small files, sha256 for LFS weights."""
        value = self.files[path]
        if isinstance(value, tuple):
            value = hashlib.sha256(value[0]).hexdigest().encode() + b"/%d" % value[1]
        if path.endswith(_LFS_SUFFIXES):
            if isinstance(value, bytes):
                return hashlib.sha256(value).hexdigest(), True
            return hashlib.sha256(f"{self.id}/{path}/{value}".encode()).hexdigest(), True
        data = value if isinstance(value, bytes) else self.content(path)
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(), False


def build_repos() -> dict[str, Repo]:
    repos = {}
    for repo_id, spec in fixture_repos.repos().items():
        files: dict[str, bytes | int] = {"README.md": f"# {repo_id}\n".encode(),
                                         ".gitattributes": b"*.safetensors filter=lfs\n"}
        if spec.get("config") is not None:
            files["config.json"] = json.dumps(spec["config"], indent=2).encode()
        if spec.get("config_text") is not None:
            files["config.json"] = spec["config_text"].encode()
        if spec.get("hf_quant_config") is not None:
            files["hf_quant_config.json"] = json.dumps(spec["hf_quant_config"], indent=2).encode()
        files.update(spec.get("files", {}))
        repos[repo_id] = Repo(
            id=repo_id, files=files, sha=hashlib.sha1(repo_id.encode()).hexdigest(),
            gated=spec.get("gated", False), private=spec.get("private", False),
            downloads=spec.get("downloads", 0), likes=spec.get("likes", 0), license=spec.get("license"),
            safetensors=spec.get("safetensors"),
        )
    return repos


class HubEmulator:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.repos = build_repos()
        self.requests: list[tuple[str, str]] = []
        self.ranges: list[tuple[str, str]] = []  # (path, Range header) of ranged GETs: resumed downloads
        self.bytes_sent: dict[str, int] = {}  # file body bytes written per request path (resolve URLs)
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        emulator = self

        class Handler(_Handler):
            hub = emulator

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubEmulator:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail(self, pattern: str, status: int, times: int | None = 1, error_code: str | None = None) -> None:
        self.faults.append(Fault(re.compile(pattern), status=status, times=times, error_code=error_code))

    def delay(self, pattern: str, seconds: float, times: int | None = None) -> None:
        self.faults.append(Fault(re.compile(pattern), delay=seconds, times=times))

    def cut(self, pattern: str, after_bytes: int, times: int | None = 1) -> None:
        """The next GET of a matching file sends `after_bytes` of it, then the connection drops (a network cut)."""
        self.faults.append(Fault(re.compile(pattern), times=times, method="GET", cut_after=after_bytes))

    def throttle(self, pattern: str, bytes_per_s: float, times: int | None = None) -> None:
        self.faults.append(Fault(re.compile(pattern), times=times, method="GET", rate_bps=bytes_per_s))

    def add_repo(self, repo_id: str, files: dict[str, Any], gated: bool = False) -> Repo:
        """A repo of real files (e.g. safetensors written by a test)."""
        repo = Repo(id=repo_id, files=dict(files), sha=hashlib.sha1(repo_id.encode() + b"/runtime").hexdigest(),
                    gated="auto" if gated else False)
        self.repos[repo_id] = repo
        return repo

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.requests.clear()
            self.ranges.clear()
            self.bytes_sent.clear()

    def take_fault(self, path: str, method: str = "GET") -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method not in (None, method):
                    continue
                if fault.pattern.search(path) and (fault.times is None or fault.times > 0):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None


class _Handler(BaseHTTPRequestHandler):
    hub: HubEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    # --- helpers ---
    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _error(self, status: int, code: str | None, message: str) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, json.dumps({"error": message}).encode(), headers)

    def _authorized(self) -> bool:
        return self.headers.get("Authorization", "") == f"Bearer {VALID_TOKEN}"

    def _repo(self, repo_id: str) -> Repo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None or (repo.private and not self._authorized()):
            self._error(401, "RepoNotFound", "Repository not found")
            return None
        return repo

    # --- routing ---
    def do_HEAD(self) -> None:
        self._route()

    def do_GET(self) -> None:
        self._route()

    def _route(self) -> None:
        parsed = urlparse(self.path)
        path = unquote(parsed.path)
        self.hub.requests.append((self.command, self.path))
        if self.headers.get("Range"):
            self.hub.ranges.append((path, self.headers["Range"]))
        fault = self.hub.take_fault(path, self.command)
        self.fault = fault
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status:
                self._error(fault.status, fault.error_code, f"injected HTTP {fault.status}")
                return
        if path == "/api/models":
            self._search(parse_qs(parsed.query))
            return
        tree = re.match(r"^/api/models/(.+?)/tree/([^/]+)(?:/(.*))?$", path)
        if tree:
            self._tree(tree.group(1), tree.group(2))
            return
        if path.startswith("/api/models/"):
            rest = path[len("/api/models/"):]
            repo_id, _, revision = rest.partition("/revision/")
            self._model_info(repo_id, revision or "main", "blobs" in parse_qs(parsed.query))
            return
        match = re.match(r"^/(.+?)/resolve/([^/]+)/(.+)$", path)
        if match:
            self._resolve(*match.groups())
            return
        self._error(404, None, "Not found")

    def _revision_ok(self, repo: Repo, revision: str) -> bool:
        if revision in ("main", repo.sha):
            return True
        self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return False

    def _model_info(self, repo_id: str, revision: str, blobs: bool) -> None:
        repo = self._repo(repo_id)
        if repo is None or not self._revision_ok(repo, revision):
            return
        siblings = []
        for name in repo.files:
            entry: dict[str, Any] = {"rfilename": name}
            if blobs:
                etag, lfs = repo.etag(name)
                entry["size"] = repo.size(name)
                entry["blobId"] = hashlib.sha1(name.encode()).hexdigest()
                if lfs:
                    entry["lfs"] = {"size": repo.size(name), "sha256": etag, "pointerSize": 134}
            siblings.append(entry)
        body: dict[str, Any] = {
            "id": repo.id, "modelId": repo.id, "author": repo.id.split("/")[0], "sha": repo.sha,
            "private": repo.private, "gated": repo.gated, "disabled": False, "downloads": repo.downloads,
            "likes": repo.likes, "tags": repo.tags, "library_name": "transformers",
            "lastModified": "2026-01-01T00:00:00.000Z", "siblings": siblings,
            "cardData": {"license": repo.license} if repo.license else {},
        }
        if repo.safetensors:
            body["safetensors"] = repo.safetensors
        self._send(200, json.dumps(body).encode())

    def _tree(self, repo_id: str, revision: str) -> None:
        """The recursive file listing (`list_repo_tree`, which `snapshot_download` / `hf download` use)."""
        repo = self._repo(repo_id)
        if repo is None or not self._revision_ok(repo, revision):
            return
        entries: list[dict[str, Any]] = []
        folders = sorted({"/".join(name.split("/")[:i]) for name in repo.files for i in range(1, name.count("/") + 1)})
        entries += [{"type": "directory", "oid": hashlib.sha1(f.encode()).hexdigest(), "size": 0, "path": f}
                    for f in folders]
        for name in repo.files:
            etag, lfs = repo.etag(name)
            entry: dict[str, Any] = {"type": "file", "oid": hashlib.sha1(name.encode()).hexdigest(),
                                     "size": repo.size(name), "path": name}
            if lfs:
                entry["lfs"] = {"oid": etag, "size": repo.size(name), "pointerSize": 134}
            entries.append(entry)
        self._send(200, json.dumps(entries).encode())

    def _search(self, query: dict[str, list[str]]) -> None:
        search = (query.get("search") or [""])[0].lower()
        author = (query.get("author") or [""])[0].lower()
        limit = int((query.get("limit") or ["1000"])[0])
        found = [
            {"id": r.id, "modelId": r.id, "downloads": r.downloads, "likes": r.likes, "private": False,
             "gated": r.gated, "tags": r.tags, "lastModified": "2026-01-01T00:00:00.000Z"}
            for r in self.hub.repos.values()
            if not r.private and search in r.id.lower() and (not author or r.id.lower().startswith(author + "/"))
        ]
        self._send(200, json.dumps(found[:limit]).encode())

    def _resolve(self, repo_id: str, revision: str, filename: str) -> None:
        repo = self._repo(repo_id)
        if repo is None or not self._revision_ok(repo, revision):
            return
        if repo.gated and not self._authorized():
            # No token: 401. A token without access to this repo: 403. Both carry X-Error-Code GatedRepo.
            status = 403 if self.headers.get("Authorization") else 401
            self._error(status, "GatedRepo", "Access to model is restricted. You must have access to it.")
            return
        if filename not in repo.files:
            self._error(404, "EntryNotFound", f"{filename} does not exist on {revision}")
            return
        size = repo.size(filename)
        etag, lfs = repo.etag(filename)
        headers = {"X-Repo-Commit": repo.sha, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
        if lfs:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(size)})
        start, end = 0, size
        status = 200
        range_header = self.headers.get("Range")
        if range_header and self.command == "GET":
            match = re.match(r"bytes=(\d+)-(\d*)", range_header)
            if match:
                start = int(match.group(1))
                end = min(size, int(match.group(2)) + 1) if match.group(2) else size
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        headers["Content-Length"] = str(end - start)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        fault = self.fault
        step = 1 << 20 if fault is None or fault.rate_bps is None else 1 << 16
        position = start
        while position < end:
            chunk_end = min(end, position + step)
            if fault is not None and fault.cut_after is not None and chunk_end - start >= fault.cut_after:
                self.wfile.write(repo.content(filename, position, start + fault.cut_after))
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)  # a dropped connection, mid-file
                self.close_connection = True
                return
            self.wfile.write(repo.content(filename, position, chunk_end))
            with self.hub._lock:
                self.hub.bytes_sent[filename] = self.hub.bytes_sent.get(filename, 0) + chunk_end - position
            if fault is not None and fault.rate_bps:
                self.wfile.flush()
                time.sleep((chunk_end - position) / fault.rate_bps)
            position = chunk_end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--bench-repo", metavar="ID:FILES:MIB", help="also serve ID with FILES weight files of MIB "
                        "MiB each (synthetic bytes; for bench/download_speed.py)")
    args = parser.parse_args()
    hub = HubEmulator(port=args.port)
    if args.bench_repo:
        repo_id, count, mib = args.bench_repo.rsplit(":", 2)
        files: dict[str, bytes | int] = {"config.json": json.dumps(fixture_repos.config("Qwen__Qwen3-8B")).encode()}
        for i in range(int(count)):
            files[f"model-{i + 1:05d}-of-{int(count):05d}.safetensors"] = int(mib) * 1024 * 1024
        hub.repos[repo_id] = Repo(id=repo_id, files=files, sha=hashlib.sha1(repo_id.encode()).hexdigest())
    hub.start()
    print(hub.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        hub.stop()


if __name__ == "__main__":
    main()
