"""The Servers screen: a real launch of the stand-in engine from the app (model → L → Enter), live numbers, stop;
and snapshots of the screen fed with recorded samples."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psutil
import pytest
from textual.widgets import DataTable

from spark_tui.engines.records import ServerRecord
from spark_tui.engines.status import ServerStatus
from spark_tui.metrics.gpu import GpuSample, ProcessMemory
from spark_tui.metrics.scrape import MetricsSample
from spark_tui.tui.app import SparkTuiApp
from spark_tui.tui.messages import ServersPolled
from spark_tui.tui.screens.servers import ServersScreen
from spark_tui.tui.server_state import ServersSnapshot
from tests.support.stand_ins import OWNER, own_processes, stand_in
from tests.tui.conftest import select_row, services, settle

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def fake_engine(tmp_path, monkeypatch, hub):
    exe = stand_in(tmp_path / "vllm", "fake_vllm.py")
    monkeypatch.setenv("SPARK_TUI_VLLM", str(exe))
    monkeypatch.setenv("SPARK_TUI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FAKE_VLLM_DELAY", "0.5")
    monkeypatch.setenv(OWNER, str(tmp_path))
    yield exe
    for process in own_processes(str(tmp_path)):  # whatever a failing test left behind
        process.kill()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def open_launch_dialog(app: SparkTuiApp, pilot, model: str) -> None:
    """Model row → its detail (Enter) → the launch dialog (L)."""
    await settle(app, pilot)
    await select_row(app, pilot, model)
    await pilot.press("enter")
    await pilot.pause()
    await pilot.press("L")
    await pilot.pause()


def fake_processes(owner: Path) -> list[psutil.Process]:
    return own_processes(str(owner))


async def test_launch_from_the_app_watch_and_stop(fake_engine, tmp_path):
    app = SparkTuiApp(services(), hardware="gb10")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_launch_dialog(app, pilot, "RedHatAI/Qwen3-8B-NVFP4")
        field = app.screen.query_one("#launch-command")
        assert field.value.startswith("vllm serve RedHatAI/Qwen3-8B-NVFP4 --host 127.0.0.1 --port 8000")
        field.value = field.value.replace("--port 8000", f"--port {free_port()}")  # the command is editable
        await pilot.press("enter")
        for _ in range(100):
            await pilot.pause(0.1)
            views = list(app.servers.values())
            if views and views[0].status.state == "ready" and len(views[0].samples) >= 2:
                break
        assert isinstance(app.screen, ServersScreen)
        assert app.servers, [n.message for n in app._notifications]
        view = next(iter(app.servers.values()))
        assert view.status.state == "ready" and view.status.record.model == "RedHatAI/Qwen3-8B-NVFP4"
        cells = [str(c) for c in app.screen.query_one("#servers", DataTable).get_row(view.status.record.name)]
        assert cells[1] == "ready"
        # The log view: start-up stays in view; our own /health, /v1/models and /metrics requests (every second)
        # are left out of it, not out of the log on disk.
        for _ in range(30):
            await pilot.pause(0.1)
            raw = Path(view.status.record.log).read_text()
            if raw.count('"GET /metrics HTTP/1.1" 200') >= 3:
                break
        assert '"GET /metrics HTTP/1.1" 200' in raw and '"GET /health HTTP/1.1" 200' in raw, raw
        await pilot.pause(1.2)
        shown = str(app.screen.query_one("#server-log").render())
        assert "GPU KV cache size: 437,760 tokens" in shown and "Application startup complete." in shown, shown
        assert "GET /metrics" not in shown and "GET /health" not in shown and "GET /v1/models" not in shown, shown
        await pilot.press("b")  # a bench from the dashboard; its result shows in the detail panel
        for _ in range(150):
            await pilot.pause(0.1)
            if next(iter(app.servers.values())).status.bench:
                break
        await pilot.pause(0.3)
        detail = str(app.screen.query_one("#server-detail").render())
        assert "bench " in detail and "tok/s per stream" in detail and "% of the" in detail, detail
        # The plan's KV tokens next to what the stand-in printed at start-up; the model's own advice now uses it.
        assert "tokens predicted, 437,760 observed (plan " in detail, detail
        memory = app.rows["RedHatAI/Qwen3-8B-NVFP4"].advice.memory
        assert memory.source == "observed" and memory.kv_cache_tokens == 437_760, memory.assumptions
        # The bench's requests are real traffic: they are in the log view.
        assert '"POST /v1/completions HTTP/1.1" 200' in str(app.screen.query_one("#server-log").render())
        await pilot.press("x")  # asks first
        await pilot.pause()
        assert "Stop qwen3-8b-nvfp4" in app.screen.question
        await pilot.press("y")
        for _ in range(100):
            await pilot.pause(0.1)
            if next(iter(app.servers.values())).status.state == "stopped":
                break
        assert next(iter(app.servers.values())).status.state == "stopped"
        await pilot.pause(0.3)
        detail = str(app.screen.query_one("#server-detail").render())
        assert "stopped · vLLM 0.28.0 · no longer serving · was at http://127.0.0.1:" in detail, detail  # not "serving"
    assert fake_processes(tmp_path) == []


async def test_a_switch_edited_in_before_port_launches_records_and_checks_that_port(fake_engine, tmp_path):
    # The dialog once paired argv words two by two to find --port: a switch before it shifted the pairs, and the
    # record named a port the engine did not listen on (so it never became "ready").
    app = SparkTuiApp(services(), hardware="gb10")
    port = free_port()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_launch_dialog(app, pilot, "RedHatAI/Qwen3-8B-NVFP4")
        field = app.screen.query_one("#launch-command")
        field.value = field.value.replace("RedHatAI/Qwen3-8B-NVFP4 --host", "RedHatAI/Qwen3-8B-NVFP4 --enforce-eager "
                                          "--host").replace("--port 8000", f"--port={port}")
        await pilot.press("enter")
        for _ in range(100):
            await pilot.pause(0.1)
            views = list(app.servers.values())
            if views and views[0].status.state == "ready":
                break
        [view] = app.servers.values()
        record = view.status.record
        assert view.status.state == "ready" and record.port == port and record.url == f"http://127.0.0.1:{port}"
        assert "--enforce-eager" in record.argv and record.plan["port"] == port
        app.services.supervisor.stop(record.name)
    assert fake_processes(tmp_path) == []


def recorded_snapshot(t0: float = 1_800_000_000.0) -> list[ServersSnapshot]:
    """Ten seconds of a server under load whose KV cache fills up (100 % at the end), a stopped server beside it,
    and the H100 sample recorded next to nvidia-smi."""
    record = ServerRecord(name="qwen3-8b-nvfp4-8000", model="RedHatAI/Qwen3-8B-NVFP4", engine="vllm",
                          argv=["vllm", "serve", "RedHatAI/Qwen3-8B-NVFP4"], env={}, pid=4242, port=8000,
                          host="127.0.0.1", log="/dev/null", started_at=t0 - 600)
    old = ServerRecord(name="llama-3.1-8b-8001", model="meta-llama/Llama-3.1-8B-Instruct", engine="vllm",
                       argv=["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct"], env={}, pid=4100, port=8001,
                       host="127.0.0.1", log="/dev/null", started_at=t0 - 7200, stopped=True)
    stopped = ServerStatus(old, "stopped", "no longer serving", None, -15, [], last_lines=["INFO Shutting down"])
    lines = ["INFO [fake_vllm.py] Model loading took 5.4321 GiB and 3.210000 seconds",
             "INFO [fake_vllm.py] GPU KV cache size: 437,760 tokens",
             "INFO [fake_vllm.py] Application startup complete."]
    fixture = json.loads((ROOT / "tests/fixtures/nvml/sampler-h100.json").read_text())["sample"][0]
    gpu = GpuSample(**{**fixture, "processes": tuple(ProcessMemory(**p) for p in fixture["processes"]),
                       "host": None})
    snapshots = []
    history: list[MetricsSample] = []  # the server's shared history, as the app's poll gets it
    for i in range(12):
        bench = {"requests": 8, "concurrency": 2, "failed": 0, "ttft_ms": {"p50": 41.2, "p90": 55.0, "p99": 60.1},
                 "itl_ms": {"p50": 20.1, "p90": 21.0, "p99": 24.3}, "output_tokens_per_s": 98.4,
                 "per_stream_tokens_per_s": 49.6, "bound_tokens_per_s": 57.0, "percent_of_bound": 87.0,
                 "wall_s": 5.3, "at": time.time() - 150}  # "2 min ago"
        status = ServerStatus(record, "ready", "serving", 600.0 + i, None, [], last_lines=lines, bench=bench,
                              kv_tokens=(455_120, 437_760))
        sample = MetricsSample(t0 + i, 1000 + 95.0 * i * i / 4, 300 + 40.0 * i, 2, 1, min(1.0, 0.12 + 0.1 * i),
                               0.8, 4, 2.0, 100)
        history.append(sample)
        snapshots.append(ServersSnapshot([status, stopped], {record.name: list(history), old.name: []}, [gpu]))
    return snapshots


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_servers_screen_snapshot(snap_compare, hub, size):
    app = SparkTuiApp(services(), hardware="gb10", poll_servers=False)

    async def feed(pilot):
        await settle(app, pilot)
        await pilot.press("S")
        await pilot.pause()
        for snapshot in recorded_snapshot():
            app.post_message(ServersPolled(snapshot))
            await pilot.pause()
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=feed)


async def test_launch_dialog_warns_when_memory_is_nearly_full(fake_engine, tmp_path):
    from dataclasses import replace

    from spark_tui.hardware import from_profile
    from spark_tui.hardware.profiles import GIB, load_profiles

    full = replace(from_profile(load_profiles()["gb10"]), source="probe", host_memory_total_bytes=120 * GIB,
                   host_memory_available_bytes=90 * GIB, host_memory_free_bytes=2 * GIB,
                   host_page_cache_bytes=88 * GIB, memory_used_bytes=30 * GIB)
    app = SparkTuiApp(services(probe=full), hardware="auto")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_launch_dialog(app, pilot, "RedHatAI/Qwen3-8B-NVFP4")
        warning = str(app.screen.query_one("#launch-warning").render())
        assert "Memory is 98% in use before launch: 2.0 GiB free" in warning and "drop_caches" in warning
        await pilot.press("escape")
        await pilot.pause()
    assert fake_processes(tmp_path) == []


def _row_text(table: DataTable, key: str) -> str:
    """The row as the terminal shows it (DataTable line 0 is the header)."""
    return table.render_line(table.get_row_index(key) + 1).text


async def test_live_columns_fit_their_widest_values_as_they_change(hub):
    # A DataTable column is as wide as what it held when its row was added: a server added while loading
    # ("—" everywhere) later showed 100 % as "10", 20m as "20" and stopped as "stopp".
    app = SparkTuiApp(services(), hardware="gb10", poll_servers=False)
    t0 = 1_800_000_000.0
    record = ServerRecord(name="s", model="org/m", engine="vllm", argv=[], env={}, pid=1, port=8000,
                          host="127.0.0.1", log="/dev/null", started_at=t0)

    def polled(state: str, uptime: float | None, samples: list[MetricsSample]) -> ServersPolled:
        status = ServerStatus(record, state, "serving", uptime, None)
        return ServersPolled(ServersSnapshot([status], {"s": samples}, []))

    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("S")
        await pilot.pause()
        table = app.screen.query_one("#servers", DataTable)
        app.post_message(polled("loading", None, []))
        await pilot.pause(0.2)
        assert _row_text(table, "s").split()[1:5] == ["loading", "8000", "—", "—"]
        busy = [MetricsSample(t0 + i, 12_345.0 * i, 0.0, 12, 3, 1.0, 0.0, 0, 0.0, 0) for i in range(3)]
        app.post_message(polled("ready", 20 * 60 + 5, busy))
        await pilot.pause(0.2)
        words = _row_text(table, "s").split()
        assert words[1:7] == ["ready", "8000", "20m", "12345.0", "12/3", "100%"], words
        app.post_message(polled("stopped", None, []))
        await pilot.pause(0.2)
        words = _row_text(table, "s").split()
        assert words[1:3] == ["stopped", "8000"], words
        for days in (0, 1, 99, 12_000):  # every uptime fits the Up column
            app.post_message(polled("ready", days * 86400 + 23 * 3600 + 59 * 60, busy))
            await pilot.pause(0.2)
            shown = _row_text(table, "s").split()[3]
            assert shown == {0: "23h59m", 1: "1d23h", 99: "99d23h", 12_000: "12000d"}[days], shown


async def test_a_relaunch_under_the_same_name_starts_without_the_last_runs_figures(hub):
    app = SparkTuiApp(services(), hardware="gb10", poll_servers=False)
    t0 = 1_800_000_000.0

    def run(started_at: float, state: str, samples: list[MetricsSample]) -> ServersPolled:
        record = ServerRecord(name="s", model="org/m", engine="vllm", argv=[], env={}, pid=1, port=8000,
                              host="127.0.0.1", log="/dev/null", started_at=started_at)
        status = ServerStatus(record, state, "serving" if state == "ready" else "loading weights", 5.0, None)
        return ServersPolled(ServersSnapshot([status], {"s": samples}, []))

    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("S")
        await pilot.pause()
        served = [MetricsSample(t0 + i, 500.0 * i, 10.0 * i, 1, 0, 0.5, 0.3 * i, i, 0.0, 0) for i in range(4)]
        for i in range(2, 5):
            app.post_message(run(t0, "ready", served[:i]))
            await pilot.pause()
        await pilot.pause(0.2)
        assert "TTFT mean 300 ms" in str(app.screen.query_one("#server-detail").render())
        assert app.servers["s"].generation_rate
        app.post_message(run(t0 + 3600, "loading", []))  # the same name, launched again
        await pilot.pause(0.3)
        detail = str(app.screen.query_one("#server-detail").render())
        assert "TTFT" not in detail and not app.servers["s"].generation_rate, detail
        assert not app.screen.query_one("#gen-spark").data


async def test_the_newest_log_line_is_in_view_at_80x24(hub):
    # The view showed the last twelve lines from the top: at 80×24 the newest ran past the bottom of the screen.
    app = SparkTuiApp(services(), hardware="gb10", poll_servers=False)
    record = ServerRecord(name="s", model="org/m", engine="vllm", argv=[], env={}, pid=1, port=8000,
                          host="127.0.0.1", log="/dev/null", started_at=1.0)
    lines = [f"INFO line {i:02d} " + "x" * (90 if i % 3 == 0 else 10) for i in range(1, 21)]  # some fold in two
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("S")
        await pilot.pause()
        status = ServerStatus(record, "ready", "serving", 5.0, None, last_lines=lines)
        app.post_message(ServersPolled(ServersSnapshot([status], {"s": []}, [])))
        await pilot.pause(0.3)
        log = app.screen.query_one("#server-log")
        shown = str(log.render())
        assert "line 20" in shown and "line 01" not in shown, shown
        assert log.region.bottom <= 23  # above the footer
        rows = sum(max(1, -(-len(line) // log.content_size.width)) for line in shown.split("\n"))
        assert rows <= log.content_size.height, (rows, log.content_size)
