from __future__ import annotations

from dataclasses import replace

import pytest

from spark_tui.hardware.facts import HardwareFacts
from spark_tui.services import EngineStatus, Services, default_services
from spark_tui.tui.app import SparkTuiApp

ENGINES = [EngineStatus("vllm", None, "0.28.0"), EngineStatus("trtllm", None, "1.3.0rc15"),
           EngineStatus("llamacpp", None, "6918")]


def services(probe: HardwareFacts | None = None, **overrides) -> Services:
    """The real services (real huggingface_hub client → the emulator, real cache, real rules), with the machine
    and the installed engines fixed so what the app shows is deterministic."""
    fixed = {"engines": ENGINES, "docker": False, "probe_hardware": lambda: probe}
    return replace(default_services(), **{**fixed, **overrides})


async def settle(app: SparkTuiApp, pilot, rounds: int = 200) -> None:
    """Wait until every row has its metadata (or its error), the workers are idle and the screen is redrawn."""
    for _ in range(rounds):
        await pilot.pause(0.05)
        if app.rows and all(not row.loading for row in app.rows.values()):
            await app.workers.wait_for_complete()
            for _ in range(40):  # the coalesced redraw runs up to 0.1 s after the last change
                if app._refresh_timer is None:
                    break
                await pilot.pause(0.05)
            await pilot.pause()
            return
    raise AssertionError("rows never finished loading: " +
                         ", ".join(r.id for r in app.rows.values() if r.loading))


async def select_row(app: SparkTuiApp, pilot, model: str) -> None:
    """Put the models table's cursor on a model (as arrow keys would)."""
    from textual.widgets import DataTable

    table = app.screen.query_one("#models", DataTable)
    table.move_cursor(row=table.get_row_index(model))
    await pilot.pause()


@pytest.fixture
def make_app(hub):
    def build(hardware: str = "gb10", **overrides) -> SparkTuiApp:
        return SparkTuiApp(services(**overrides), hardware=hardware)

    return build


def vllm_only(engine: str, runtime):
    """A machine with one vLLM (`runtime`) and nothing to run the other engines with."""
    from spark_tui.errors import UsageError

    if engine != "vllm":
        raise UsageError(f"No {engine} found here (test machine).")
    return runtime
