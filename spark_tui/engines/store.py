"""The servers' records on disk: one JSON file per server (<state>/servers/<name>.json), written atomically under
a lock, so two spark-tui processes at once are safe and damage to one file never loses another. Beside them: each
server's log, exit file, API key (readable by this user only) and last bench result."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from spark_tui.engines import validate
from spark_tui.engines.records import STATE_VERSION, ServerRecord, parse_record, salvage
from spark_tui.errors import StateWriteError, UsageError
from spark_tui.files import locked, write_json_atomic

NO_SPACE_HINT = "Free some space there, or point SPARK_TUI_STATE_DIR at another disk."
FOLDERS = ("logs", "exits", "metrics", "servers", "bench")


class RecordStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock_file = root / "servers.lock"
        self._json_cache: dict[str, tuple[tuple[int, int], dict[str, Any] | None]] = {}

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One writer at a time across processes (launch from its port check to its saved record, stop)."""
        with locked(self.lock_file):
            yield

    # --- paths: every one named by a validated server name ---
    def record_path(self, name: str) -> Path:
        return self.root / "servers" / f"{validate.server_name(name)}.json"

    def log_path(self, name: str) -> Path:
        return self.root / "logs" / f"{validate.server_name(name)}.log"

    def exit_path(self, name: str) -> Path:
        return self.root / "exits" / f"{validate.server_name(name)}.json"

    def metrics_path(self, name: str) -> Path:
        return self.root / "metrics" / f"{validate.server_name(name)}.json"

    def bench_path(self, name: str) -> Path:
        return self.root / "bench" / f"{validate.server_name(name)}.json"

    def marker(self, name: str) -> str:
        """The SPARK_TUI_SERVER value every process of server `name` carries (engines/processes.py)."""
        return str(self.record_path(name).absolute())

    # --- records ---
    def read(self) -> dict[str, tuple[ServerRecord, str | None]]:
        """Every record, named by its file (never by what the file says): (record, None) when whole, or (what
        could be recovered, the file's text) when damaged, so its server is never orphaned."""
        records: dict[str, tuple[ServerRecord, str | None]] = {}
        for path in sorted((self.root / "servers").glob("*.json")):
            name = path.stem
            with contextlib.suppress(UsageError):
                validate.server_name(name)
                try:
                    text = path.read_text(errors="replace")
                except OSError:
                    continue
                record = parse_record(name, text)
                records[name] = (record, None) if record is not None else (self._damaged(name, text), text)
        return records

    def _damaged(self, name: str, text: str) -> ServerRecord:
        known = salvage(text)
        return ServerRecord(name=name, model=known.get("model", "?"), engine="vllm", argv=[], env={},
                            pid=known.get("pid", 0), port=known.get("port", 0), host=known.get("host", "127.0.0.1"),
                            log=str(self.log_path(name)), started_at=known.get("started_at", 0.0),
                            container=known.get("container"), docker=known.get("docker"), damaged=True)

    def save(self, record: ServerRecord) -> None:
        self.write(self.record_path(record.name), {**asdict(record), "version": STATE_VERSION})

    def set_aside(self, name: str) -> Path:
        """A damaged record is kept for the user (not deleted) once its server is gone."""
        path = self.record_path(name)
        aside = path.with_suffix(f".damaged-{int(time.time())}")
        with self.writing():
            path.replace(aside)
        return aside

    def forget(self, name: str) -> None:
        """A server taken off the list: its record, exit, rates, bench and key go (its log stays)."""
        secret = self.root / "secrets" / f"{validate.server_name(name)}.key"
        with self.writing():
            for path in (self.record_path(name), self.exit_path(name), self.metrics_path(name),
                         self.bench_path(name), secret):
                path.unlink(missing_ok=True)

    def prepare(self, name: str) -> None:
        """A new launch under `name`: the folders exist, and nothing of an earlier run's exit, rates or bench is left
        to be read as this one's."""
        for folder in FOLDERS:
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        for path in (self.exit_path(name), self.metrics_path(name), self.bench_path(name)):
            path.unlink(missing_ok=True)

    def write(self, path: Path, data: Any) -> None:
        """Atomically (a file is the old one or the new one, never half of one); a full disk is one sentence."""
        try:
            write_json_atomic(path, data)
        except OSError as exc:
            raise StateWriteError(f"Cannot write {path}: {exc.strerror or exc}.", NO_SPACE_HINT) from None

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """A full or read-only disk under the state folder is one sentence, not a traceback."""
        try:
            yield
        except OSError as exc:
            raise StateWriteError(f"Cannot write under {self.root}: {exc.strerror or exc}.", NO_SPACE_HINT) from None

    # --- what sits beside a record ---
    def save_secret(self, name: str, api_key: str | None) -> None:
        path = self.root / "secrets" / f"{validate.server_name(name)}.key"
        path.unlink(missing_ok=True)
        if api_key:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(api_key)

    def api_key(self, name: str) -> str | None:
        """The key a server was started with (for our own requests to its /v1 routes), if any."""
        try:
            return (self.root / "secrets" / f"{validate.server_name(name)}.key").read_text() or None
        except (OSError, UsageError):
            return None

    def save_bench(self, name: str, result: dict[str, Any]) -> None:
        self.write(self.bench_path(name), {**result, "at": time.time()})

    def bench(self, name: str) -> dict[str, Any] | None:
        return self.cached_json(self.bench_path(name))

    def exit_info(self, name: str) -> dict[str, Any] | None:
        return self.cached_json(self.exit_path(name))

    def cached_json(self, path: Path) -> dict[str, Any] | None:
        """A small JSON file re-read only when it changed (the app looks every second)."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (st.st_size, st.st_mtime_ns)
        cached = self._json_cache.get(str(path))
        if cached is None or cached[0] != key:
            cached = self._json_cache[str(path)] = (key, read_json(path))
        return cached[1]


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
