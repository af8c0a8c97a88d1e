"""A server's record: what `serve` remembers of it in <state>/servers/<name>.json, and how a file is read back:
whole and well-typed, or damaged, with whatever can still be recovered of it (a damaged record never hides a
running server)."""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any

STATE_VERSION = 1
# What each field of a record must be; a record with a field of another type is damaged.
FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "model": str, "engine": str, "argv": list, "env": dict, "pid": int, "port": int, "host": str, "log": str,
    "started_at": (int, float), "stopped": bool, "container": (str, type(None)), "docker": (str, type(None)),
    "image": (str, type(None)), "external": bool, "plan": (dict, type(None)), "log_offset": int,
    "nodes": (list, type(None))}


@dataclass
class ServerRecord:
    name: str
    model: str
    engine: str
    argv: list[str]
    env: dict[str, str]  # only what the launch plan added, never the whole environment (tokens stay out)
    pid: int
    port: int
    host: str
    log: str
    started_at: float
    stopped: bool = False
    version: int = STATE_VERSION
    container: str | None = None  # the container's name when the engine runs in docker
    docker: str | None = None  # the docker CLI that started it (and will stop it)
    image: str | None = None
    external: bool = False  # found listening, not started by spark-tui
    damaged: bool = False  # read from a damaged file: what could be recovered of it (pid 0 / port 0: unknown)
    plan: dict[str, Any] | None = None  # the launch plan it was started from (LaunchPlan.to_json); None: older
    log_offset: int = 0  # where this launch's lines start in its log (a log is kept across launches); 0: older
    # Across nodes: every node command's processes or container, in start order (cluster/launch.py NodePart);
    # None on one node. `pid` is then 0 (nothing of it runs here) and `log` a copy of the head server's log.
    nodes: list[dict[str, Any]] | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"


def parse_record(name: str, text: str) -> ServerRecord | None:
    """A whole record with every field of the right type, else None (damaged)."""
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    known = {k: raw[k] for k in ServerRecord.__dataclass_fields__ if k in raw and k not in ("name", "damaged")}
    if any(not isinstance(v, FIELD_TYPES[k]) or (FIELD_TYPES[k] is int and isinstance(v, bool))
           for k, v in known.items() if k in FIELD_TYPES):
        return None
    try:
        return ServerRecord(name=name, **known)
    except TypeError:  # a field missing
        return None


_SALVAGE = re.compile(r'"(pid|port|started_at|model|host|container|docker)":\s*("(?:[^"\\]|\\.)*"|[0-9.]+)')


def salvage(text: str) -> dict[str, Any]:
    """The fields of a damaged (truncated, mistyped) record that still read as what they should be."""
    found: dict[str, Any] = {}
    for key, value in _SALVAGE.findall(text):
        with contextlib.suppress(ValueError):
            parsed = json.loads(value)
            if isinstance(parsed, FIELD_TYPES[key]) and key not in found:
                found[key] = parsed
    return found
