"""The Servers screen against in-process doubles of the server subsystem and the GPU sampler (no processes, no
ports, no environment): what the app asks of its services, and what it shows from their answers."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from textual.widgets import DataTable

from spark_tui.engines.records import ServerRecord
from spark_tui.engines.status import ServerStatus
from spark_tui.errors import UsageError
from spark_tui.metrics.bench import BenchResult
from spark_tui.metrics.scrape import MetricsSample
from spark_tui.tui.app import SparkTuiApp
from spark_tui.tui.screens.servers import ServersScreen
from tests.tui.conftest import services, settle


@dataclass
class FakeServers:
    """A ServerControl with one ready server whose counters grow 40 tokens a poll."""

    calls: list[str] = field(default_factory=list)
    stopped: bool = False
    forgotten: bool = False
    bench_hold: threading.Event = field(default_factory=threading.Event)
    polls: int = 0
    record: ServerRecord = field(default_factory=lambda: ServerRecord(
        name="qwen", model="org/qwen", engine="vllm", argv=["vllm", "serve", "org/qwen"], env={}, pid=7, port=8123,
        host="127.0.0.1", log="", started_at=1.0))

    def records(self) -> list[ServerRecord]:
        return [] if self.forgotten else [self.record]

    def external(self, records=None) -> list[ServerRecord]:
        return []

    def observe(self, record, rules=None, answering=False) -> ServerStatus:
        state = "stopped" if self.stopped else "ready"
        return ServerStatus(record, state, "serving", None if self.stopped else 60.0, None,
                            last_lines=["INFO Application startup complete."])

    def sample(self, record) -> list[MetricsSample]:
        self.polls += 1
        return [MetricsSample(float(t), 40.0 * t, 0.0, 1, 0, 0.25, 0.0, 0, 0.0, 0) for t in range(self.polls)]

    def launch(self, plan, name=None, runtime=None, api_key=None, prediction=None) -> ServerRecord:
        raise AssertionError("not launched in these tests")

    def stop(self, name, timeout=15.0) -> ServerStatus:
        self.calls.append(f"stop {name}")
        self.stopped = True
        return self.observe(self.record)

    def forget(self, name) -> None:
        self.calls.append(f"forget {name}")
        if not self.stopped:
            raise UsageError(f"{name} is still running; it stays on the list.")
        self.forgotten = True

    def bench(self, name, progress=None) -> BenchResult:
        self.calls.append(f"bench {name}")
        for done in range(1, 9):
            if done == 2:
                self.bench_hold.wait(30)  # the test reads "benchmarking… 1/8" meanwhile
            if progress is not None:
                progress(done, 8)
        return BenchResult(2, 1, 0, {"p50": 1, "p90": 1, "p99": 1}, {"p50": 1, "p90": 1, "p99": 1}, 80.0, 40.0,
                           50.0, 80.0, 1.0)


class CountingGpus:
    def __init__(self) -> None:
        self.closed = 0

    def sample(self) -> list:
        return []

    def close(self) -> None:
        self.closed += 1


async def wait_for(pilot, condition, rounds: int = 100) -> None:
    for _ in range(rounds):
        await pilot.pause(0.05)
        if condition():
            return
    raise AssertionError("the condition never held")


async def test_the_servers_screen_shows_polls_benches_and_stops_through_its_services(hub):
    servers, gpus = FakeServers(), CountingGpus()
    app = SparkTuiApp(services(supervisor=servers, gpus=gpus), hardware="gb10")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("S")
        await wait_for(pilot, lambda: "qwen" in app.servers and len(app.servers["qwen"].samples) >= 3)
        assert isinstance(app.screen, ServersScreen)
        cells = [str(c) for c in app.screen.query_one("#servers", DataTable).get_row("qwen")]
        assert cells[:3] == ["qwen", "ready", "8123"] and cells[5] == "1/0" and cells[6] == "25%"
        assert app.servers["qwen"].generation_rate[-1] == 40.0  # from the shared history the double returned
        servers.bench_hold.set()
        await pilot.press("b")
        await wait_for(pilot, lambda: "bench qwen" in servers.calls and not app.benching)
        await pilot.press("x", "y")
        await wait_for(pilot, lambda: app.servers["qwen"].status.state == "stopped")
        assert servers.calls == ["bench qwen", "stop qwen"]
        assert gpus.closed == 0
    assert gpus.closed == 1  # the app lets go of NVML when it exits


async def test_stop_asks_and_a_stopped_server_leaves_the_list_after_a_question(hub):
    from spark_tui.tui.screens.confirm import ConfirmScreen

    servers = FakeServers()
    app = SparkTuiApp(services(supervisor=servers), hardware="gb10")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("S")
        await wait_for(pilot, lambda: "qwen" in app.servers)
        await pilot.press("d")  # a running server stays on the list, and nothing is asked
        await pilot.pause()
        assert isinstance(app.screen, ServersScreen) and servers.calls == []
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.screen.question.startswith("Stop qwen (org/qwen on port")
        await pilot.press("n")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ServersScreen) and servers.calls == [] and not servers.stopped
        await pilot.press("x", "y")
        await wait_for(pilot, lambda: app.servers["qwen"].status.state == "stopped")
        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.screen.question.startswith("Remove qwen (stopped)")
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert servers.calls == ["stop qwen"] and "qwen" in app.servers
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: "qwen" not in app.servers)
        await pilot.pause(0.3)
        assert servers.calls == ["stop qwen", "forget qwen"]
        assert app.screen.query_one("#servers", DataTable).row_count == 0
        assert "No servers" in str(app.screen.query_one("#server-detail").render())


async def test_bench_shows_its_progress_until_the_result(hub):
    servers = FakeServers()
    app = SparkTuiApp(services(supervisor=servers), hardware="gb10")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("S")
        await wait_for(pilot, lambda: "qwen" in app.servers and app.servers["qwen"].status.state == "ready")
        await pilot.press("b")
        await wait_for(pilot, lambda: app.benching.get("qwen") == (1, 8))
        await wait_for(pilot, lambda: "benchmarking… 1/8 requests done" in str(
            app.screen.query_one("#server-detail").render()))
        await pilot.press("b")  # one bench at a time
        servers.bench_hold.set()
        await wait_for(pilot, lambda: not app.benching)
        await pilot.pause(0.3)
        assert "benchmarking" not in str(app.screen.query_one("#server-detail").render())
        assert servers.calls == ["bench qwen"]
        assert any("tok/s per stream" in n.message for n in app._notifications)


@dataclass
class TrtllmWithoutCounters(FakeServers):
    """A trtllm-serve whose release reports no token counters and whose iteration stats were empty (idle)."""

    record: ServerRecord = field(default_factory=lambda: ServerRecord(
        name="trt", model="org/qwen", engine="trtllm", argv=["trtllm-serve", "org/qwen"], env={}, pid=7, port=8124,
        host="127.0.0.1", log="", started_at=1.0))

    def sample(self, record) -> list[MetricsSample]:
        self.polls += 1
        return [MetricsSample(float(t), None, None, None, None, None, 0.0, 0, 0.0, 0) for t in range(self.polls)]


async def test_what_an_engine_does_not_report_is_a_dash_never_zero(hub):
    servers = TrtllmWithoutCounters()
    app = SparkTuiApp(services(supervisor=servers, gpus=CountingGpus()), hardware="gb10")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("S")
        await wait_for(pilot, lambda: "trt" in app.servers and len(app.servers["trt"].samples) >= 3)
        cells = [str(c) for c in app.screen.query_one("#servers", DataTable).get_row("trt")]
        assert cells[:3] == ["trt", "ready", "8124"] and cells[4:7] == ["—", "—", "—"], cells
        assert not app.servers["trt"].generation_rate  # no 0 tok/s on the sparkline either


NODES = [
    {"host": "spark-b", "role": "worker", "state": "running", "pid": 41, "container": None, "exit_code": None,
     "memory_available_bytes": 100 * 2**30, "memory_total_bytes": 120 * 2**30, "gpu_utilization": 0.93,
     "reason": None},
    {"host": "spark-a", "role": "server", "state": "unreachable", "pid": 42, "container": None, "exit_code": None,
     "memory_available_bytes": None, "memory_total_bytes": None, "gpu_utilization": None,
     "reason": "node spark-a is unreachable"},
]


@dataclass
class FakeClusterServers(FakeServers):
    """One server across two nodes; it notes which thread asked for its state (the nodes are asked over SSH)."""

    threads: set[str] = field(default_factory=set)

    def observe(self, record, rules=None, answering=False) -> ServerStatus:
        self.threads.add(threading.current_thread().name)
        return ServerStatus(record, "failed", "node spark-a is unreachable", None, None, nodes=[dict(n) for n in NODES])


async def test_a_server_across_nodes_shows_a_line_per_node_sampled_off_the_ui_thread(hub):
    servers = FakeClusterServers()
    servers.record.nodes = []  # a multi-node record (its parts are the double's business)
    app = SparkTuiApp(services(supervisor=servers), hardware="gb10")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("S")
        await wait_for(pilot, lambda: "qwen" in app.servers)
        await pilot.pause(0.2)
        detail = str(app.screen.query_one("#server-detail").render())
        assert "node spark-b (worker) running · 100.0/120.0 GiB available · GPU 93%" in detail
        assert "node spark-a (server) unreachable · memory n/a · GPU n/a" in detail
        assert servers.threads and threading.main_thread().name not in servers.threads
