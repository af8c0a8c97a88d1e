"""Regenerate screenshots/*.svg from the deterministic test data (the Hub emulator, the gb10 profile).

    python -m tests.support.screenshots

Run it whenever a screen changes, then look at the SVGs (README shows them).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from textual.widgets import DataTable

from tests.support.hub_emulator import HubEmulator

OUT = Path(__file__).resolve().parent.parent.parent / "screenshots"


async def shoot(name: str, size: tuple[int, int], steps) -> None:
    from spark_tui.tui.app import SparkTuiApp
    from tests.tui.conftest import services, settle

    app = SparkTuiApp(services(), hardware="gb10", poll_servers=False)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await steps(app, pilot)
        await pilot.pause(0.3)
        app.save_screenshot(filename=f"{name}.svg", path=str(OUT))
    print(OUT / f"{name}.svg")


async def main() -> None:
    from tests.tui.conftest import select_row

    async def catalog(app, pilot):
        await select_row(app, pilot, "RedHatAI/Qwen3-30B-A3B-NVFP4")

    async def search(app, pilot):
        from tests.tui.conftest import settle

        await pilot.press("slash", *"Nemotron", "enter")
        await settle(app, pilot)
        await select_row(app, pilot, "Firworks/NVIDIA-Nemotron-3-Nano-30B-A3B-nvfp4")

    async def detail(app, pilot):
        await select_row(app, pilot, "RedHatAI/Qwen3-30B-A3B-NVFP4")
        await pilot.press("enter")

    async def rules(app, pilot):
        await pilot.press("r")
        await pilot.pause()
        table = app.screen.query_one("#rules", DataTable)
        table.move_cursor(row=[str(k.value) for k in table.rows].index("vllm-ct-nvfp4-moe-nongated"))

    async def hardware(app, pilot):
        await pilot.press("h")

    async def servers(app, pilot):
        from spark_tui.tui.messages import ServersPolled
        from tests.tui.test_servers import recorded_snapshot

        await pilot.press("S")
        await pilot.pause()
        for snapshot in recorded_snapshot():  # recorded samples, as in the snapshot test
            app.post_message(ServersPolled(snapshot))
            await pilot.pause()

    async def downloads(app, pilot):
        from spark_tui.tui.screens.downloads import DownloadsScreen
        from tests.tui.test_downloads import fixed_downloads

        fixed_downloads(app)  # a pull half-way and a cache of two models, as in the snapshot test
        app.push_screen(DownloadsScreen(poll=False))

    await shoot("main-120x40", (120, 40), catalog)
    await shoot("main-80x24", (80, 24), catalog)
    await shoot("search-120x40", (120, 40), search)
    await shoot("model-120x40", (120, 40), detail)
    await shoot("model-80x24", (80, 24), detail)
    await shoot("rules-120x40", (120, 40), rules)
    await shoot("hardware-120x40", (120, 40), hardware)
    await shoot("servers-120x40", (120, 40), servers)
    await shoot("downloads-120x40", (120, 40), downloads)
    await gguf_on_llamacpp()


async def gguf_on_llamacpp() -> None:
    """A GGUF judged and launched on llama.cpp, for real: the llama-server stand-in (tests/support/
    fake_llama_server.py) on PATH is the llama-server the app finds, launches and watches; the server is stopped at
    the end."""
    import shutil

    from spark_tui.tui.app import SparkTuiApp
    from tests.support.stand_ins import stand_in
    from tests.tui.conftest import select_row, services, settle

    work = Path(tempfile.gettempdir()) / "spark-tui-screenshots"  # a fixed path: the dialog shows it
    shutil.rmtree(work, ignore_errors=True)
    stand_in(work / "bin" / "llama-server", "fake_llama_server.py")
    os.environ.update(PATH=f"{work / 'bin'}:{os.environ['PATH']}", SPARK_TUI_STATE_DIR=str(work / "state"),
                      FAKE_LLAMA_DELAY="2")
    model = "ggml-org/gpt-oss-120b-GGUF"
    app = SparkTuiApp(services(), hardware="gb10")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        app.set_engine("llamacpp")
        for _ in range(100):  # the app looks for each engine's runtime in a worker
            await pilot.pause(0.05)
            if "llamacpp" in app.runtime_labels:
                break
        await select_row(app, pilot, model)
        app.save_screenshot(filename="gguf-main-120x40.svg", path=str(OUT))
        await pilot.press("enter")
        await pilot.pause(0.3)
        app.save_screenshot(filename="gguf-model-120x40.svg", path=str(OUT))
        await pilot.press("L")
        await pilot.pause(0.3)
        app.save_screenshot(filename="gguf-launch-120x40.svg", path=str(OUT))
        await pilot.press("enter")
        for _ in range(200):  # until llama-server answers /health
            await pilot.pause(0.1)
            if any(v.status.state == "ready" for v in app.servers.values()):
                break
        await pilot.press("b")  # bench it: tokens/s from its /metrics and against the bound
        for _ in range(300):
            await pilot.pause(0.1)
            if any(v.status.bench for v in app.servers.values()):
                break
        await pilot.pause(2.5)
        app.save_screenshot(filename="gguf-servers-120x40.svg", path=str(OUT))
        await pilot.press("x", "y")  # stop it
        for _ in range(100):
            await pilot.pause(0.1)
            if all(v.status.state == "stopped" for v in app.servers.values()):
                break
    for name in ("gguf-main", "gguf-model", "gguf-launch", "gguf-servers"):
        print(OUT / f"{name}-120x40.svg")


if __name__ == "__main__":
    hub = HubEmulator().start()
    work = tempfile.mkdtemp()
    os.environ.update(HF_ENDPOINT=hub.url, HF_HOME=f"{work}/hf", SPARK_TUI_CACHE_DIR=f"{work}/cache",
                      SPARK_TUI_CONFIG_DIR=f"{work}/config")
    os.environ.pop("NO_COLOR", None)
    OUT.mkdir(exist_ok=True)
    try:
        asyncio.run(main())
    finally:
        hub.stop()
