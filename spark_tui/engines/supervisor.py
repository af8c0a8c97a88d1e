"""The server subsystem's front: launch a plan, look at servers, stop them. It composes the record store
(engines/store.py), process control (engines/control.py), the engine's adapter (engines/adapters.py), the pure
state function (engines/status.py) and the shared rate history (metrics/history.py); it holds no engine specifics.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spark_tui.engines import control, validate
from spark_tui.engines.adapters import adapter_for
from spark_tui.engines.logs import diagnose, run_lines
from spark_tui.engines.records import ServerRecord
from spark_tui.engines.runtime import container_name
from spark_tui.engines.status import ENDED, STATES, ServerStatus, server_state
from spark_tui.engines.store import RecordStore
from spark_tui.errors import SparkTuiError, StateWriteError, UsageError
from spark_tui.metrics.history import RateHistory
from spark_tui.metrics.scrape import MetricsSample
from spark_tui.paths import state_dir

if TYPE_CHECKING:
    from spark_tui.advisor.types import LaunchPlan
    from spark_tui.metrics.bench import BenchResult

__all__ = ["STATES", "ServerRecord", "ServerStatus", "Supervisor", "next_free_port", "port_is_free"]


class Supervisor:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or state_dir()
        self.store = RecordStore(self.root)
        self.history = RateHistory(self.root / "metrics")
        # A long-lived supervisor (the app's) re-reads a log and re-matches rules only when the log changed.
        self._log_cache: dict[str, tuple[tuple[int, int], list[str], list[dict[str, str]]]] = {}

    # --- which servers there are ---
    def records(self) -> list[ServerRecord]:
        with self.store.locked():
            return [self._recovered(record, text) for record, text in self.store.read().values()]

    def _recovered(self, record: ServerRecord, damaged_text: str | None) -> ServerRecord:
        if damaged_text is not None:  # the pid in a damaged file may be wrong or gone: its processes say which
            record.pid = control.recovered_pid(record, self.store.marker(record.name))
        return record

    def get(self, name: str, include_external: bool = False) -> ServerRecord:
        validate.server_name(name)
        records = {r.name: r for r in self.records()}
        if name not in records and include_external:
            records.update({r.name: r for r in self.external(list(records.values()))})
        if name not in records:
            known = ", ".join(sorted(records)) or "none"
            raise UsageError(f"No server named '{name}'.", f"Known: {known}. List them with: spark-tui ps")
        return records[name]

    def external(self, records: list[ServerRecord] | None = None) -> list[ServerRecord]:
        """vLLM servers listening here that spark-tui did not start (engines/discovery.py)."""
        from spark_tui.engines.discovery import find_external

        records = records if records is not None else self.records()
        # A server of ours in a container (or on several nodes) is not in our process group; its port tells it apart.
        return find_external({r.pid for r in records},
                             {r.port for r in records if control.alive(r) or (r.nodes and not r.stopped)})

    def running(self, record: ServerRecord) -> bool:
        if record.nodes is not None:  # across nodes: until stopped, taken as running (its nodes are asked by observe)
            return not record.stopped
        return control.running(record, self.store.marker(record.name))

    # --- launching ---
    def launch(self, plan: LaunchPlan, name: str | None = None, runtime: Any = None, api_key: str | None = None,
               prediction: dict[str, Any] | None = None) -> ServerRecord:
        """Start the plan (run by `runtime`; the plan's argv as it is when there is none), detached. Host and port
        are the plan's. `api_key` reaches the engine in its environment (the adapter's variable, e.g. VLLM_API_KEY),
        never in argv, the record or the log; it is kept for our own health checks and bench in a file only this
        user can read.
        `prediction` (calibration.prediction): what the plan expected, so the figures its log prints become an
        observation."""
        validate.port(plan.port)
        if name is not None:
            validate.server_name(name)
        adapter = adapter_for(plan.engine)
        # One launch at a time from the port check to the saved record: of two launches on one port, the second
        # sees the first's record (its engine may not listen yet) and is refused before anything loads.
        with self.store.locked(), self.store.writing():
            records = {r.name: r for r, _ in self.store.read().values()}
            self._check_port_free(plan.host, plan.port, records)
            name = name or _default_name(plan.model, plan.port, records)
            if name in records and self.running(records[name]):
                raise UsageError(f"A server named '{name}' is already running.", f"Stop it: spark-tui stop {name}")
            self.store.prepare(name)
            if api_key and adapter.api_key_env is None:
                raise UsageError(f"{adapter.title} has no API key option, so a key cannot guard it.")
            secrets = {adapter.api_key_env: api_key} if api_key and adapter.api_key_env else {}
            from spark_tui.engines import plan_files

            plan = plan_files.write(self.root, name, plan)  # e.g. trtllm-serve's YAML, in the server's own folder
            argv = adapter.command(plan, runtime, name, list(secrets))
            in_container = runtime is not None and runtime.kind == "container"
            plan = replace(plan, runtime="container" if in_container else "local",
                           image=runtime.image if in_container else None)
            self.store.save_secret(name, api_key)
            marker = self.store.marker(name)
            log = self.store.log_path(name)
            process, log_offset = control.start(argv, {**plan.env, **secrets}, log, self.store.exit_path(name),
                                                marker)
            record = ServerRecord(name=name, model=plan.model, engine=plan.engine, argv=argv, env=dict(plan.env),
                                  pid=process.pid, port=plan.port, host=plan.host, log=str(log),
                                  started_at=time.time(), container=container_name(name) if in_container else None,
                                  docker=runtime.executable if in_container else None,
                                  image=runtime.image if in_container else None, plan=plan.to_json(),
                                  log_offset=log_offset)
            self._note_launch(name, prediction, log, log_offset, record.started_at)
            try:
                self.store.save(record)
            except StateWriteError:
                control.end_started(process, record, marker)
                raise
        return record

    def launch_cluster(self, plan: LaunchPlan, config: Any, name: str | None = None,
                       prediction: dict[str, Any] | None = None) -> ServerRecord:
        """Start a plan across nodes (plan.nodes, in order) over SSH with the [cluster] settings `config`; the record
        holds every node's processes or container. Ready = the head server's /health and /v1/models."""
        from spark_tui.engines import multinode

        validate.port(plan.port)
        if name is not None:
            validate.server_name(name)
        server = next(n for n in plan.nodes if n.role == "server")
        head_address = server.env.get("VLLM_HOST_IP", server.host)
        host = head_address if plan.host in ("0.0.0.0", "::", "") else plan.host
        with self.store.locked(), self.store.writing():
            records = {r.name: r for r, _ in self.store.read().values()}
            name = name or _default_name(plan.model, plan.port, records)
            if name in records and self.running(records[name]):
                raise UsageError(f"A server named '{name}' is already running.", f"Stop it: spark-tui stop {name}")
            claimed = next((r.name for r in records.values() if r.port == plan.port and r.host == host
                            and self.running(r)), None)
            if claimed:
                raise UsageError(f"Port {plan.port} on {host} is already used by server '{claimed}'.",
                                 "Pass --port N, or --port auto for the next free one.")
            self.store.prepare(name)
            log = self.store.log_path(name)
            log.write_text("")  # the head server's log is copied here each time the nodes are looked at
            record = ServerRecord(name=name, model=plan.model, engine=plan.engine, argv=list(server.argv),
                                  env=dict(server.env), pid=0, port=plan.port, host=host, log=str(log),
                                  started_at=time.time(), plan=plan.to_json(), nodes=[])
            self.store.save(record)
            self._note_launch(name, prediction, log, 0, record.started_at)
            try:
                multinode.start(config, record, plan, multinode.new_marker(name), lambda: self.store.save(record))
            except SparkTuiError:
                if not record.nodes:  # nothing of it runs anywhere: no record to keep
                    self.store.forget(name)
                raise
        return record

    def _note_launch(self, name: str, prediction: dict[str, Any] | None, log: Path, offset: int, at: float) -> None:
        (self.root / "calibration" / "launches" / f"{name}.json").unlink(missing_ok=True)
        if prediction is not None:
            from spark_tui import calibration

            with contextlib.suppress(OSError):  # worth having, never worth failing a launch for
                calibration.note_launch(self.root, name, prediction, log, offset, at)

    def _check_port_free(self, host: str, port: int, records: dict[str, ServerRecord]) -> None:
        claimed = next((r.name for r in records.values() if r.port == port and not r.stopped and self.running(r)),
                       None)
        if claimed is not None or not port_is_free(host, port):
            taken = f" by server '{claimed}'" if claimed else ""
            raise UsageError(f"Port {port} on {host} is already in use{taken}.",
                             "Pass --port N, or --port auto for the next free one.")

    # --- looking ---
    def observe(self, record: ServerRecord, rules: list | None = None, answering: bool = False) -> ServerStatus:
        """Look at a server now: its processes, its log (how far start-up got, known issues), its health check
        (skipped when `answering`: the caller just had an answer from /metrics), its exit. Settles the launch's
        calibration once start-up is over. Never sleeps; metrics are `sample()`'s."""
        if record.nodes is not None:  # across nodes: every node is asked over SSH (in parallel, with deadlines)
            return self._observe_nodes(record, rules, answering)
        lines, diagnosis = self._log(record, rules)
        exit_info = self.store.exit_info(record.name)
        exit_code = exit_info.get("exit_code") if exit_info else None
        running = self.running(record)  # the engine may outlive a runner killed with -9: it still serves
        progress = _progress(record, lines)
        healthy = answering or (running and not record.damaged and self._ready(record))
        state, progress = server_state(record, running, healthy, exit_code, progress)
        uptime = time.time() - record.started_at if running and not record.damaged else None
        status = ServerStatus(record, state, progress, uptime,
                              exit_code, diagnosis, last_lines=lines[-20:], bench=self.store.bench(record.name))
        self._calibrate(status)
        return status

    def _observe_nodes(self, record: ServerRecord, rules: list | None, answering: bool) -> ServerStatus:
        """A server across nodes: every node asked over SSH in parallel (each with its deadline), the head
        server's log copied here, the state from every node's part."""
        from spark_tui.engines import multinode
        from spark_tui.engines.status import cluster_state

        samples = multinode.sample(record)
        multinode.mirror_log(record, samples)
        rows = multinode.node_rows(record, samples)
        lines, diagnosis = self._log(record, rules)
        server = next((r for r in rows if r["role"] == "server"), None)
        serving = server is not None and server["state"] == "running"
        healthy = answering or (serving and not record.stopped and self._ready(record))
        exit_code = server["exit_code"] if server is not None else None
        state, progress, reasons = cluster_state(record, rows, healthy, exit_code, _progress(record, lines))
        if state == "failed":
            diagnosis = [*({"rule": "node-down", "title": why, "line": why} for why in reasons), *diagnosis]
        uptime = time.time() - record.started_at if serving else None
        status = ServerStatus(record, state, progress, uptime, exit_code, diagnosis, last_lines=lines[-20:],
                              bench=self.store.bench(record.name), nodes=rows)
        self._calibrate(status)
        return status

    def _ready(self, record: ServerRecord) -> bool:
        try:
            adapter = adapter_for(record.engine)
        except UsageError:
            return False
        return adapter.ready(record.url, record.model, self.store.api_key(record.name))

    def sample(self, record: ServerRecord) -> list[MetricsSample]:
        """Scrape the server's /metrics into the shared history; the history (empty when it did not answer)."""
        sample = adapter_for(record.engine).scrape(record.url, self.store.api_key(record.name))
        if sample is None:
            return []
        return self.history.add(record.name, sample)

    def _calibrate(self, status: ServerStatus) -> None:
        """Once a launch is over start-up (ready, or ended), its printed figures become an observation; the status
        carries its predicted and observed KV tokens."""
        path = self.root / "calibration" / "launches" / f"{status.record.name}.json"
        launch = self.store.cached_json(path)
        if launch is None:
            return
        from spark_tui import calibration  # (the advisor's types: only for a server launched from a plan)

        if not launch.get("settled") and status.state in ("ready", *ENDED):
            calibration.settle(self.root, [status.record.name])
            launch = self.store.cached_json(path)
        status.kv_tokens = calibration.kv_line(launch)

    def _log(self, record: ServerRecord, rules: list | None) -> tuple[list[str], list[dict[str, str]]]:
        try:
            st = Path(record.log).stat()
            key = (st.st_size, st.st_mtime_ns)
        except OSError:
            return [], []
        cached = self._log_cache.get(record.name)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        try:
            adapter = adapter_for(record.engine)
        except UsageError:
            adapter = None
        # This launch's lines, less our own polling (each /health, /v1/models and /metrics request is an access-log
        # line: they pushed start-up out of view within seconds). The log on disk keeps everything.
        lines = run_lines(Path(record.log), record.log_offset,
                          keep=lambda line: adapter is None or not adapter.our_request(line, record.host))
        diagnosis = diagnose(lines, rules, record.engine) if rules is not None else []
        self._log_cache[record.name] = (key, lines, diagnosis)
        return lines, diagnosis

    def wait_ready(self, record: ServerRecord, timeout: float, rules: list | None = None) -> ServerStatus:
        deadline = time.monotonic() + timeout
        while True:
            status = self.observe(record, rules)
            if status.state in ("ready", *ENDED) or time.monotonic() > deadline:
                return status
            time.sleep(0.25)

    def api_key(self, record: ServerRecord) -> str | None:
        return self.store.api_key(record.name)

    # --- load ---
    def bench(self, name: str, requests: int = 8, concurrency: int = 2, prompt_tokens: int = 64,
              max_tokens: int = 64, keep: bool = True,
              progress: Callable[[int, int], None] | None = None) -> BenchResult:
        """Load a ready server (the CLI's `bench` and the app's `b`) against the decode bound its launch plan
        carried; the result is kept with the server (unless `keep` is False: the caller keeps it). `progress`
        hears (requests done, requests) as each request ends."""
        from spark_tui.metrics.bench import run_bench

        record = self.get(name, include_external=True)  # a vLLM started elsewhere can be measured too
        if self.observe(record).state != "ready":
            raise UsageError(f"{name} is not ready.", f"See spark-tui ps and spark-tui logs {name}.")
        bound = (record.plan or {}).get("bound_tokens_per_s")
        self.sample(record)
        result = run_bench(record.url, record.model, requests=requests, concurrency=concurrency,
                           prompt_tokens=prompt_tokens, max_tokens=max_tokens,
                           bound=bound if isinstance(bound, (int, float)) else None,
                           api_key=self.api_key(record), progress=progress)
        self.sample(record)
        if keep:
            self.save_bench(record, result.to_json())
        return result

    def save_bench(self, record: ServerRecord, result: dict[str, Any]) -> None:
        self.store.save_bench(record.name, result)

    # --- stopping ---
    def stop(self, name: str, timeout: float = 15.0) -> ServerStatus:
        validate.server_name(name)
        with self.store.locked():
            records = {r.name: r for r in (self._recovered(r, t) for r, t in self.store.read().values())}
            if name not in records:
                outsider = next((r for r in self.external(list(records.values())) if r.name == name), None)
                if outsider is not None:
                    raise UsageError(f"{name} was not started by spark-tui; it is left alone.",
                                     f"Stop it yourself if you mean to: kill {outsider.pid}")
                raise UsageError(f"No server named '{name}'.", "List them with: spark-tui ps")
            record = records[name]
            if record.nodes is not None:
                from spark_tui.engines import multinode

                multinode.end(record, timeout)  # raises (the record kept) when a node cannot be reached
                record.stopped = True
                self.store.save(record)
                return self.observe(record)
            control.end(record, self.store.marker(name), timeout)
            if record.damaged:  # set aside for the user (not deleted); its server is gone, so ps forgets it
                aside = self.store.set_aside(name)
                return ServerStatus(record, "stopped", f"its damaged record is kept as {aside}", None, None)
            record.stopped = True
            self.store.save(record)
        return self.observe(record)


    def forget(self, name: str) -> None:
        """Take a server that no longer runs off the list: its record and what sits beside it (exit, rates, bench,
        key) go; its log stays on disk. Refuses a server that still runs (or whose container may), and one that
        spark-tui did not start."""
        validate.server_name(name)
        with self.store.locked():
            found = self.store.read()
            if name not in found:
                raise UsageError(f"No server named '{name}'.", "List them with: spark-tui ps")
            record = self._recovered(*found[name])
            if self.running(record) or ((record.container or record.nodes is not None) and not record.stopped):
                raise UsageError(f"{name} is still running; it stays on the list.", f"Stop it first: spark-tui stop "
                                 f"{name}")
            if record.damaged:  # kept for the user, as stop does
                self.store.set_aside(name)
            self.store.forget(name)
        self._log_cache.pop(name, None)


def _progress(record: ServerRecord, lines: list[str]) -> str:
    try:
        return adapter_for(record.engine).progress(lines)
    except UsageError:
        return "starting"


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the server will: a port whose last connections are in TIME_WAIT is free, a listening one is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def next_free_port(host: str, start: int) -> int:
    for port in range(start, start + 200):
        if port_is_free(host, port):
            return port
    raise UsageError(f"No free port on {host} between {start} and {start + 199}.")


def _default_name(model: str, port: int, records: dict[str, ServerRecord]) -> str:
    # Room for "-PORT-N" within the longest valid name (validate.MAX_NAME).
    base = re.sub(r"[^a-z0-9]+", "-", model.rsplit("/", 1)[-1].lower())[:48].strip("-") or "server"
    name = f"{base}-{port}"
    suffix = 2
    while name in records and control.alive(records[name]):
        name = f"{base}-{port}-{suffix}"
        suffix += 1
    return name
