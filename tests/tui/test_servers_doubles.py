"""The Servers screen against in-process doubles of the server subsystem and the GPU sampler (no processes, no
ports, no environment): what the app asks of its services, and what it shows from their answers."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.widgets import DataTable

from spark_tui.engines.records import ServerRecord
from spark_tui.engines.status import ServerStatus
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
    polls: int = 0
    record: ServerRecord = field(default_factory=lambda: ServerRecord(
        name="qwen", model="org/qwen", engine="vllm", argv=["vllm", "serve", "org/qwen"], env={}, pid=7, port=8123,
        host="127.0.0.1", log="", started_at=1.0))

    def records(self) -> list[ServerRecord]:
        return [self.record]

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

    def bench(self, name) -> BenchResult:
        self.calls.append(f"bench {name}")
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
        await pilot.press("b")
        await wait_for(pilot, lambda: "bench qwen" in servers.calls)
        await pilot.press("x")
        await wait_for(pilot, lambda: app.servers["qwen"].status.state == "stopped")
        assert servers.calls == ["bench qwen", "stop qwen"]
        assert gpus.closed == 0
    assert gpus.closed == 1  # the app lets go of NVML when it exits
