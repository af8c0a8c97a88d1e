"""Launch engine servers detached, remember them, re-attach, diagnose and stop them.

A server runs under `spark_tui.engines.runner` in its own session (start_new_session), so an SSH drop or the
launching process exiting does not kill it. Its record lives in <state>/servers/<name>.json, written atomically
under a lock (two spark-tui processes at once are safe; a damaged file costs only that record). Its output goes
to <state>/logs/<name>.log; how it ended to <state>/exits/<name>.json. Stop = SIGTERM to the process group, then
SIGKILL, and a check that nothing of it is left (engines/processes.py) before it says "stopped".
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from spark_tui.engines import processes, validate
from spark_tui.engines.logs import diagnose, tail
from spark_tui.engines.logs import progress as startup_progress
from spark_tui.engines.records import STATE_VERSION, ServerRecord, parse_record, salvage
from spark_tui.engines.runtime import VllmRuntime, container_name
from spark_tui.errors import ServerStillRunningError, SparkTuiError, StateWriteError, UsageError
from spark_tui.files import locked, write_json_atomic
from spark_tui.metrics.scrape import MetricsSample, rates, scrape
from spark_tui.paths import state_dir

STATES = ("starting", "loading", "ready", "failed", "stopped", "exited", "damaged")
NO_SPACE_HINT = "Free some space there, or point SPARK_TUI_STATE_DIR at another disk."


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

    def to_json(self) -> dict[str, Any]:
        m = self.metrics
        return {
            "name": self.record.name, "model": self.record.model, "engine": self.record.engine,
            "state": self.state, "progress": self.progress, "pid": self.record.pid or None,
            "port": self.record.port or None,
            "url": self.record.url, "uptime_s": None if self.uptime_s is None else round(self.uptime_s, 1),
            "generation_tokens_per_s": _round(self.generation_tokens_per_s),
            "prompt_tokens_per_s": _round(self.prompt_tokens_per_s),
            "requests_running": None if m is None else int(m.requests_running),
            "requests_waiting": None if m is None else int(m.requests_waiting),
            "kv_cache_usage": None if m is None else m.kv_cache_usage,
            "exit_code": self.exit_code, "diagnosis": self.diagnosis, "log": self.record.log or None,
            "external": self.record.external, "bench": self.bench,
            "kv_cache_tokens": None if self.kv_tokens is None else dict(zip(("predicted", "observed"),
                                                                           self.kv_tokens, strict=True)),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class Supervisor:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or state_dir()
        # A long-lived supervisor (the app's) re-reads a log and re-matches rules only when the log changed.
        self._log_cache: dict[str, tuple[tuple[int, int], list[str], list[dict[str, str]]]] = {}
        self.lock_file = self.root / "servers.lock"
        self._json_cache: dict[str, tuple[tuple[int, int], dict[str, Any] | None]] = {}

    # --- the records: one JSON file per server, so damage to one never loses the others ---
    def _read(self) -> dict[str, ServerRecord]:
        """Every record, named by its file (never by what the file says). A damaged one is kept and listed as
        damaged, with what can be recovered of it, so its server is never orphaned."""
        records = {}
        for path in sorted((self.root / "servers").glob("*.json")):
            name = path.stem
            with contextlib.suppress(UsageError):
                validate.server_name(name)
                try:
                    text = path.read_text(errors="replace")
                except OSError:
                    continue
                records[name] = parse_record(name, text) or self._recover(name, text)
        return records

    def _recover(self, name: str, text: str) -> ServerRecord:
        """A damaged record: the fields that can still be read, and the pid of its processes if any run."""
        known = salvage(text)
        record = ServerRecord(name=name, model=known.get("model", "?"), engine="vllm", argv=[], env={},
                              pid=known.get("pid", 0), port=known.get("port", 0),
                              host=known.get("host", "127.0.0.1"), log=str(self.root / "logs" / f"{name}.log"),
                              started_at=known.get("started_at", 0.0), container=known.get("container"),
                              docker=known.get("docker"), damaged=True)
        # The pid in a damaged file may be wrong or gone: the processes' own marker says which group is its.
        running = self._members(record) or processes.members(self._marker(name))
        record.pid = processes.group_of(running) or record.pid
        return record

    def _save(self, record: ServerRecord) -> None:
        self._write(self.root / "servers" / f"{record.name}.json", {**asdict(record), "version": STATE_VERSION})

    def _write(self, path: Path, data: Any) -> None:
        """Atomically (a record is the old one or the new one, never half of one); a full disk is one sentence."""
        try:
            write_json_atomic(path, data)
        except OSError as exc:
            raise StateWriteError(f"Cannot write {path}: {exc.strerror or exc}.", NO_SPACE_HINT) from None

    def _marker(self, name: str) -> str:
        """The SPARK_TUI_SERVER value every process of server `name` carries."""
        return str((self.root / "servers" / f"{name}.json").absolute())

    def _members(self, record: ServerRecord) -> list[Any]:
        """The server's live processes (its group, marked as its own), whatever happened to its runner."""
        return processes.members(self._marker(record.name), record.pid) if record.pid > 0 else []

    def running(self, record: ServerRecord) -> bool:
        return _alive(record) or bool(self._members(record))

    def records(self) -> list[ServerRecord]:
        with locked(self.lock_file):
            return list(self._read().values())

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
        # A server of ours in a container is not in our process group; its port tells it apart.
        return find_external({r.pid for r in records}, {r.port for r in records if _alive(r)})

    def launch(self, model: str, engine: str, argv: list[str], env: dict[str, str], host: str, port: int,
               name: str | None = None, runtime: VllmRuntime | None = None,
               api_key: str | None = None, prediction: dict[str, Any] | None = None) -> ServerRecord:
        """Start `argv` (the plan's `vllm serve …`, run by `runtime`; as given when there is none), detached.
        `api_key` reaches vLLM as VLLM_API_KEY in its environment, never in argv, the record or the log; it is kept
        for our own health checks and bench in a file only this user can read. `prediction` (calibration.prediction):
        what the plan expected; kept so the figures its log prints become an observation."""
        validate.port(port)
        if name is not None:
            validate.server_name(name)
        # One launch at a time from the port check to the saved record: of two launches on one port, the second
        # sees the first's record (its engine may not listen yet) and is refused before anything loads.
        with locked(self.lock_file), self._writing_state():
            records = self._read()
            self._check_port_free(host, port, records)
            name = name or _default_name(model, port, records)
            if name in records and self.running(records[name]):
                raise UsageError(f"A server named '{name}' is already running.", f"Stop it: spark-tui stop {name}")
            for d in ("logs", "exits", "metrics", "servers"):
                (self.root / d).mkdir(parents=True, exist_ok=True)
            in_container = runtime is not None and runtime.kind == "container"
            secrets = {"VLLM_API_KEY": api_key} if api_key else {}
            if runtime is not None:
                argv = runtime.command(argv, name, host, port, env, secret_names=list(secrets))
            self._save_secret(name, api_key)
            log = self.root / "logs" / f"{name}.log"
            exit_file = self.root / "exits" / f"{name}.json"
            exit_file.unlink(missing_ok=True)
            (self.root / "metrics" / f"{name}.json").unlink(missing_ok=True)
            (self.root / "bench" / f"{name}.json").unlink(missing_ok=True)  # a new server: old results no longer hold
            with open(log, "ab") as out:
                log_offset = out.tell()  # this launch's output starts here (a log is kept across launches)
                out.write(f"--- spark-tui: {' '.join(argv)}\n".encode())
                out.flush()
                marker = {processes.MARKER: self._marker(name)}
                try:
                    process = subprocess.Popen(
                        [sys.executable, "-m", "spark_tui.engines.runner", str(exit_file), "--", *argv],
                        stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                        env={**os.environ, **env, **secrets, **marker}, start_new_session=True, close_fds=True,
                    )
                except OSError as exc:
                    raise SparkTuiError(f"Cannot start {argv[0]}: {exc.strerror or exc}.") from None
            record = ServerRecord(name=name, model=model, engine=engine, argv=argv, env=env, pid=process.pid,
                                  port=port, host=host, log=str(log), started_at=time.time(),
                                  container=container_name(name) if in_container else None,
                                  docker=runtime.executable if in_container and runtime else None,
                                  image=runtime.image if in_container and runtime else None)
            (self.root / "calibration" / "launches" / f"{name}.json").unlink(missing_ok=True)
            if prediction is not None:
                from spark_tui import calibration

                with contextlib.suppress(OSError):  # worth having, never worth failing a launch for
                    calibration.note_launch(self.root, name, prediction, log, log_offset, record.started_at)
            try:
                self._save(record)
            except StateWriteError:
                # A server nobody can find again is worse than none: end it before saying why.
                processes.end_group(process.pid, lambda: process.poll() is not None and not self._members(record),
                                    timeout=5.0)
                raise
        return record

    def _check_port_free(self, host: str, port: int, records: dict[str, ServerRecord]) -> None:
        claimed = next((r.name for r in records.values() if r.port == port and not r.stopped and self.running(r)),
                       None)
        if claimed is not None or not port_is_free(host, port):
            taken = f" by server '{claimed}'" if claimed else ""
            raise UsageError(f"Port {port} on {host} is already in use{taken}.",
                             "Pass --port N, or --port auto for the next free one.")

    @contextlib.contextmanager
    def _writing_state(self) -> Any:
        """A full or read-only disk under the state folder is one sentence, not a traceback."""
        try:
            yield
        except OSError as exc:
            raise StateWriteError(f"Cannot write under {self.root}: {exc.strerror or exc}.", NO_SPACE_HINT) from None

    # --- looking ---
    def status(self, record: ServerRecord, rules: list | None = None, sample_metrics: bool = True,
               answering: bool = False) -> ServerStatus:
        """`answering`: the caller just got /metrics from this server, so /health need not be asked again."""
        lines, diagnosis = self._log(record, rules)
        exit_info = self._cached_json(self.root / "exits" / f"{record.name}.json")
        alive = self.running(record)  # the engine may outlive a runner killed with -9: it still serves
        exit_code = exit_info.get("exit_code") if exit_info else None
        uptime = time.time() - record.started_at if alive else None
        progress = startup_progress(lines)
        status = ServerStatus(record, "starting", progress, uptime, exit_code, diagnosis, last_lines=lines[-20:],
                              bench=self._cached_json(self.root / "bench" / f"{record.name}.json"))
        self._state(record, status, alive, exit_code, progress, answering, sample_metrics)
        self._calibrate(status)
        return status

    def _calibrate(self, status: ServerStatus) -> None:
        """Once a launch is over start-up (ready, or ended), its printed figures become an observation; the status
        carries its predicted and observed KV tokens."""
        path = self.root / "calibration" / "launches" / f"{status.record.name}.json"
        launch = self._cached_json(path)
        if launch is None:
            return
        from spark_tui import calibration  # (the advisor's types: only for a server launched from a plan)

        if not launch.get("settled") and status.state in ("ready", "failed", "exited", "stopped"):
            calibration.settle(self.root, [status.record.name])
            launch = self._cached_json(path)
        status.kv_tokens = calibration.kv_line(launch)

    def _state(self, record: ServerRecord, status: ServerStatus, alive: bool, exit_code: int | None,
               progress: str, answering: bool, sample_metrics: bool) -> ServerStatus:
        if record.damaged:
            status.state, status.uptime_s = "damaged", None
            status.progress = (f"its record is damaged; spark-tui stop {record.name} ends it" if alive else
                               f"its record is damaged and nothing of it runs; spark-tui stop {record.name} clears it")
            return status
        if not alive:
            if record.stopped:
                status.state = "stopped"
            elif exit_code == 0:
                status.state = "exited"
            else:
                status.state = "failed"
            if record.container and not record.stopped:
                status.progress = f"its container may still run: spark-tui stop {record.name} removes it"
            return status
        if answering or _healthy(record, self.api_key(record)):
            status.state = "ready"
            if sample_metrics:
                self._sample(status)
        elif progress != "starting":
            status.state = "loading"
        return status

    def _save_secret(self, name: str, api_key: str | None) -> None:
        path = self.root / "secrets" / f"{name}.key"
        path.unlink(missing_ok=True)
        if api_key:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(api_key)

    def api_key(self, record: ServerRecord) -> str | None:
        """The key a server was started with (for our own requests to its /v1 routes), if any."""
        try:
            return (self.root / "secrets" / f"{record.name}.key").read_text() or None
        except OSError:
            return None

    def save_bench(self, record: ServerRecord, result: dict[str, Any]) -> None:
        self._write(self.root / "bench" / f"{record.name}.json", {**result, "at": time.time()})

    def _cached_json(self, path: Path) -> dict[str, Any] | None:
        """A small JSON file re-read only when it changed (the app looks every second)."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (st.st_size, st.st_mtime_ns)
        cached = self._json_cache.get(str(path))
        if cached is None or cached[0] != key:
            cached = self._json_cache[str(path)] = (key, _read_json(path))
        return cached[1]

    def _log(self, record: ServerRecord, rules: list | None) -> tuple[list[str], list[dict[str, str]]]:
        try:
            st = os.stat(record.log)
            key = (st.st_size, st.st_mtime_ns)
        except OSError:
            return [], []
        cached = self._log_cache.get(record.name)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        lines = tail(Path(record.log))
        diagnosis = diagnose(lines, rules) if rules is not None else []
        self._log_cache[record.name] = (key, lines, diagnosis)
        return lines, diagnosis

    def _sample(self, status: ServerStatus) -> None:
        """Scrape /metrics into the server's short history; rates come from the last minute of it."""
        history = self.record_sample(status.record)
        if not history:
            return
        if len(history) < 2:  # nothing recent to compare with: look again in a second
            time.sleep(1.0)
            history = self.record_sample(status.record) or history
        status.metrics = history[-1]
        status.generation_tokens_per_s, status.prompt_tokens_per_s = rates(history)

    def record_sample(self, record: ServerRecord) -> list[MetricsSample]:
        """Add one /metrics sample to the server's history (the last two minutes, kept on disk so any process
        sees it: `bench` adds one before and after its load); returns the history, empty if none answered."""
        sample = scrape(record.url)
        if sample is None:
            return []
        path = self.root / "metrics" / f"{record.name}.json"
        history = [MetricsSample(**s) for s in (_read_json(path) or {}).get("samples", [])]
        history = [s for s in history if sample.t - s.t <= 120] + [sample]
        with contextlib.suppress(StateWriteError):  # a full disk costs the history on disk, not the numbers
            self._write(path, {"samples": [s.to_json() for s in history]})
        return history

    def wait_ready(self, record: ServerRecord, timeout: float, rules: list | None = None) -> ServerStatus:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(record, rules, sample_metrics=False)
            if status.state in ("ready", "failed", "exited", "stopped") or time.monotonic() > deadline:
                return status
            time.sleep(0.25)

    # --- stopping ---
    def stop(self, name: str, timeout: float = 15.0) -> ServerStatus:
        validate.server_name(name)
        with locked(self.lock_file):
            records = self._read()
            if name not in records:
                outsider = next((r for r in self.external(list(records.values())) if r.name == name), None)
                if outsider is not None:
                    raise UsageError(f"{name} was not started by spark-tui; it is left alone.",
                                     f"Stop it yourself if you mean to: kill {outsider.pid}")
                raise UsageError(f"No server named '{name}'.", "List them with: spark-tui ps")
            record = records[name]
            self._end(record, timeout)
            if record.damaged:  # set aside for the user (not deleted); its server is gone, so ps forgets it
                path = self.root / "servers" / f"{name}.json"
                aside = path.with_suffix(f".damaged-{int(time.time())}")
                with self._writing_state():
                    path.replace(aside)
                return ServerStatus(record, "stopped", f"its damaged record is kept as {aside}", None, None)
            record.stopped = True
            self._save(record)
        return self.status(record, sample_metrics=False)

    def _end(self, record: ServerRecord, timeout: float) -> None:
        """End the server's whole group (and container) whatever happened to its runner; raise unless nothing of
        it is left and its port is closed."""
        had_something = bool(record.container) or self.running(record)
        if record.container and record.docker:
            # The docker CLI's death would not end the container: ask docker itself, whatever the CLI's state.
            processes.docker_stop(record.docker, record.container, timeout)
        pgid = record.pid if _alive(record) else processes.group_of(self._members(record))
        if pgid is not None:
            processes.end_group(pgid, lambda: not self.running(record), timeout)
        left = [p.pid for p in self._members(record)] or ([record.pid] if _alive(record) else [])
        if left:
            raise ServerStillRunningError(f"{record.name} is still running (pid {left[0]}) after SIGKILL.",
                                          f"End it yourself: kill -9 {left[0]}")
        if had_something and record.port and not processes.port_closed(record.host, record.port):
            where = f"its container {record.container} may still run" if record.container else "something listens"
            raise ServerStillRunningError(f"{record.name} is stopped but port {record.port} is still open: {where}.",
                                          f"See what listens there: ss -ltnp 'sport = :{record.port}'")


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
    while name in records and _alive(records[name]):
        name = f"{base}-{port}-{suffix}"
        suffix += 1
    return name


def _alive(record: ServerRecord) -> bool:
    """Is the recorded runner still running (and still the same process, not a reused pid)?"""
    import psutil

    try:
        process = psutil.Process(record.pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(process.create_time() - record.started_at) < 5
    except psutil.Error:
        return False


def _healthy(record: ServerRecord, api_key: str | None = None) -> bool:
    import httpx

    from spark_tui.engines.http import client

    try:
        health = client().get(record.url + "/health", timeout=1.0)
        if health.status_code != 200:
            return False
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}  # vLLM guards /v1 when given a key
        models = client().get(record.url + "/v1/models", timeout=1.0, headers=headers)
        return models.status_code == 200 and any(m.get("id") == record.model for m in models.json().get("data", []))
    except (httpx.HTTPError, ValueError):
        return False


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
