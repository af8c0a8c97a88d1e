"""The app's side of the server subsystem, mixed into SparkTuiApp: the once-a-second poll while the Servers screen
is open, and the bench, stop and removal from the list that screen asks for. Blocking calls run in threads and
post messages; the poll and the bench in daemon threads (tui/background.py), so quitting never waits on a server
slow to answer; a stop in a worker the app waits for, so it is never left half done."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work

from spark_tui.errors import SparkTuiError
from spark_tui.tui.background import in_daemon_thread
from spark_tui.tui.messages import BenchProgress, ServersPolled, ServerWorkDone
from spark_tui.tui.server_state import ServersSnapshot, ServerView

if TYPE_CHECKING:
    from textual.app import App
    from textual.timer import Timer

    from spark_tui.services import Services

    _AppBase = App[int]
else:
    _AppBase = object


class ServerWork(_AppBase):
    # What it shares with the app (set in SparkTuiApp.__init__).
    services: Services
    servers: dict[str, ServerView]
    gpus: list
    benching: dict[str, tuple[int, int]]  # server → (requests done, requests) of the app's bench
    stopping: set[str]  # servers being stopped (x), shown as "stopping…" until it is done
    _server_timer: Timer | None
    _poll_servers: bool  # tests that feed recorded samples turn the live polling off
    _polls: int
    _polling: bool  # a poll is out (a server slow to answer): the next second's is skipped
    _external: list  # vLLM servers found listening that spark-tui did not start

    if TYPE_CHECKING:  # the app's
        def refresh_views(self, now: bool = False) -> None: ...
        def load_observations(self) -> Any: ...

    def start_server_polling(self) -> None:
        if not self._poll_servers:
            return
        self.poll_servers()
        if self._server_timer is None:
            self._server_timer = self.set_interval(1.0, self.poll_servers)

    def stop_server_polling(self) -> None:
        if self._server_timer is not None:
            self._server_timer.stop()
            self._server_timer = None

    @work(group="servers")
    async def poll_servers(self) -> None:
        # In a daemon thread (tui/background.py): a server slow to answer never holds up quitting.
        if self._polling:
            return
        self._polling = True
        try:
            snapshot = await in_daemon_thread(self._poll_once)
        finally:
            self._polling = False
        self.post_message(ServersPolled(snapshot))

    def _poll_once(self) -> ServersSnapshot:
        supervisor = self.services.supervisor  # one for the app's life: it caches what it read of the logs
        statuses: list = []
        metrics: dict[str, list] = {}
        records = supervisor.records()
        if self._polls % 10 == 0:  # servers started elsewhere: a process scan, so every 10 s, not every second
            self._external = supervisor.external(records)
        self._polls += 1
        for record in records + self._external:
            known = self.servers.get(record.name)
            # A server that was ready answers /metrics; that answer stands in for /health this second.
            history = supervisor.sample(record) if known is not None and known.status.state == "ready" else []
            status = supervisor.observe(record, self.services.rules.rules, answering=bool(history))
            if status.state == "ready" and not history:
                history = supervisor.sample(record)
            statuses.append(status)
            metrics[record.name] = history
        try:
            gpus = self.services.gpus.sample()
        except Exception:  # NVML trouble never takes the screen down
            gpus = []
        return ServersSnapshot(statuses, metrics, gpus)

    def on_servers_polled(self, message: ServersPolled) -> None:
        snapshot = message.snapshot
        if any(s.kv_tokens and s.kv_tokens[1] is not None and (
                s.record.name not in self.servers or self.servers[s.record.name].status.kv_tokens != s.kv_tokens)
               for s in snapshot.statuses):
            self.load_observations()  # a launch just said what it took: the plans learn it
        names = set()
        for status in snapshot.statuses:
            name = status.record.name
            names.add(name)
            view = self.servers.get(name)
            if view is None or view.status.record.started_at != status.record.started_at:
                view = ServerView(status)  # a relaunch under the same name starts with empty sparklines
            view.status = status
            view.add(snapshot.metrics.get(name) or [])
            self.servers[name] = view
        for gone in set(self.servers) - names:
            del self.servers[gone]
        self.gpus = snapshot.gpus
        self.refresh_views()


    def bench_server(self, name: str) -> None:
        """b: 8 requests, 2 at a time; the Servers screen shows "benchmarking… n/8" until the result."""
        if name in self.benching:
            self.notify(f"{name} is already being benchmarked.")
            return
        self.benching[name] = (0, 8)
        self.notify(f"Benchmarking {name}: 8 requests, 2 at a time…")
        self.refresh_views(now=True)
        self._bench_worker(name)

    @work(group="bench")
    async def _bench_worker(self, name: str) -> None:
        def progress(done: int, total: int) -> None:
            self.post_message(BenchProgress(name, done, total))  # post_message is thread-safe

        def bench() -> ServerWorkDone:
            try:
                result = self.services.supervisor.bench(name, progress=progress)
            except SparkTuiError as exc:
                return ServerWorkDone(name, "bench", f"No bench: {exc}", "error", ok=False)
            return ServerWorkDone(name, "bench", f"{name}: {result.per_stream_tokens_per_s:.1f} tok/s per stream, "
                                  f"{result.output_tokens_per_s:.1f} aggregate.")

        # A daemon thread (tui/background.py): quitting mid-bench does not wait for its requests.
        self.post_message(await in_daemon_thread(bench))

    def on_bench_progress(self, message: BenchProgress) -> None:
        if message.name in self.benching:
            self.benching[message.name] = (message.done, message.total)
            self.refresh_views()

    def stop_server(self, name: str) -> None:
        self.stopping.add(name)
        self.refresh_views(now=True)
        self._stop_worker(name)

    @work(thread=True, group="stop")
    def _stop_worker(self, name: str) -> None:
        # A thread worker, waited for at quit: a stop is not left half done (SIGTERM sent, SIGKILL not).
        try:
            status = self.services.supervisor.stop(name)
        except SparkTuiError as exc:
            self.post_message(ServerWorkDone(name, "stop", str(exc), "error", ok=False))
            return
        self.post_message(ServerWorkDone(name, "stop", f"{name}: {status.state}."))

    @work(thread=True, group="forget")
    def forget_server(self, name: str) -> None:
        try:
            self.services.supervisor.forget(name)
        except SparkTuiError as exc:
            self.post_message(ServerWorkDone(name, "forget", str(exc), "error", ok=False))
            return
        self.post_message(ServerWorkDone(name, "forget", f"{name} is off the list (its log is kept)."))

    def on_server_work_done(self, message: ServerWorkDone) -> None:
        if message.kind == "bench":
            self.benching.pop(message.name, None)
        elif message.kind == "stop":
            self.stopping.discard(message.name)
        if message.kind == "forget" and message.ok:
            self.servers.pop(message.name, None)
        self.notify(message.message, severity=message.severity)  # type: ignore[arg-type]
        if message.kind != "bench" and self._server_timer is not None:
            self.poll_servers()  # what is true now, without waiting for the next second
        self.refresh_views(now=True)
