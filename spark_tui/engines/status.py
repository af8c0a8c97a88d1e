"""What `ps` and the app show for a server, and the pure function that decides its state.

`server_state` is a function of what was seen (record, whether its processes run, whether it answers, its exit
code, how far its log got): no I/O, so every state is tested directly. The supervisor gathers those facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spark_tui.crash import redact
from spark_tui.engines.records import ServerRecord
from spark_tui.metrics.scrape import MetricsSample

STATES = ("starting", "loading", "ready", "failed", "stopped", "exited", "damaged")
ENDED = ("failed", "exited", "stopped")


def server_state(record: ServerRecord, running: bool, answering: bool, exit_code: int | None,
                 progress: str) -> tuple[str, str]:
    """(state, progress text). `answering`: its health check passed (or it just answered /metrics)."""
    if record.damaged:
        if running:
            return "damaged", f"its record is damaged; spark-tui stop {record.name} ends it"
        return "damaged", f"its record is damaged and nothing of it runs; spark-tui stop {record.name} clears it"
    if not running:
        state = "stopped" if record.stopped else "exited" if exit_code == 0 else "failed"
        if record.container and not record.stopped:
            return state, f"its container may still run: spark-tui stop {record.name} removes it"
        return state, ended_progress(progress)
    if answering:
        return "ready", progress
    return ("starting" if progress == "starting" else "loading"), progress


def cluster_state(record: ServerRecord, nodes: list[dict[str, Any]], answering: bool, server_exit: int | None,
                  progress: str) -> tuple[str, str, list[str]]:
    """(state, progress, reasons) of a server across nodes, from each node command's row (multinode.node_rows:
    state running / exited / unreachable). It is failed when any node's part died or cannot be reached while the
    head does not serve, with each such node as a reason; it never waits for a node that is gone."""
    server = next((n for n in nodes if n["role"] == "server"), None)
    running = [n for n in nodes if n["state"] == "running"]
    down = [n for n in nodes if n["state"] != "running"]
    reasons = [str(n["reason"]) for n in down if n.get("reason")]
    if record.stopped and not running:
        return "stopped", ended_progress(progress), []
    if record.stopped:
        return "failed", f"stopped, but {len(running)} part(s) still run: spark-tui stop {record.name}", reasons
    if answering:
        return "ready", progress, reasons
    if server is None or server["state"] != "running" or down:
        if server is not None and server["state"] == "exited" and server_exit == 0 and not running:
            return "exited", ended_progress(progress), []
        return "failed", reasons[0] if reasons else ended_progress(progress), reasons
    return ("starting" if progress == "starting" else "loading"), progress, []


def ended_progress(phase: str) -> str:
    """What an ended server's log phase means now: it no longer serves (it said `stopped · serving`)."""
    if phase == "serving":
        return "no longer serving"
    if phase == "starting":
        return "ended before loading"
    return f"ended during start-up ({phase})"


@dataclass
class ServerStatus:
    record: ServerRecord
    state: str
    progress: str
    uptime_s: float | None
    exit_code: int | None
    diagnosis: list[dict[str, str]] = field(default_factory=list)
    metrics: MetricsSample | None = None
    generation_tokens_per_s: float | None = None
    prompt_tokens_per_s: float | None = None
    last_lines: list[str] = field(default_factory=list)
    bench: dict[str, Any] | None = None  # the last `spark-tui bench` (or the app's b) result, with "at"
    kv_tokens: tuple[int | None, int | None] | None = None  # (predicted, observed) KV tokens of its launch
    nodes: list[dict[str, Any]] = field(default_factory=list)  # across nodes: one row per node command

    def to_json(self) -> dict[str, Any]:
        m = self.metrics
        record = self.record
        plan = record.plan or {}
        return {
            "name": record.name, "model": record.model, "engine": record.engine,
            "state": self.state, "progress": self.progress, "pid": record.pid or None,
            "port": record.port or None,
            "url": record.url, "uptime_s": None if self.uptime_s is None else round(self.uptime_s, 1),
            "generation_tokens_per_s": _round(self.generation_tokens_per_s),
            "prompt_tokens_per_s": _round(self.prompt_tokens_per_s),
            "requests_running": None if m is None or m.requests_running is None else int(m.requests_running),
            "requests_waiting": None if m is None or m.requests_waiting is None else int(m.requests_waiting),
            "kv_cache_usage": None if m is None else m.kv_cache_usage,
            "exit_code": self.exit_code, "diagnosis": self.diagnosis, "log": record.log or None,
            "external": record.external, "bench": self.bench,
            "kv_cache_tokens": None if self.kv_tokens is None else dict(zip(("predicted", "observed"),
                                                                           self.kv_tokens, strict=True)),
            "command": redact(record.argv) if record.argv else None,
            "engine_version": plan.get("engine_version"),
            "runtime": None if record.external else ("container" if record.container else "local"),
            "bound_tokens_per_s": _round(plan.get("bound_tokens_per_s")),
            "nodes": [dict(n) for n in self.nodes],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
