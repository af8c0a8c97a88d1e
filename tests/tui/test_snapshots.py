"""How each screen looks, at 80×24 and 120×40, with deterministic data (the emulator's repos, the gb10 profile,
fixed engine list). Update after an intended change with: pytest tests/tui/test_snapshots.py --snapshot-update"""

from __future__ import annotations

import pytest

from tests.tui.conftest import select_row, settle, vllm_only

SIZES = [(80, 24), (120, 40)]


class TestMainScreen:
    @pytest.mark.parametrize("size", SIZES)
    def test_catalog(self, snap_compare, make_app, size):
        app = make_app()

        async def ready(pilot):
            await settle(app, pilot)
            await select_row(app, pilot, "RedHatAI/Qwen3-30B-A3B-NVFP4")

        assert snap_compare(app, terminal_size=size, run_before=ready)


class TestModelScreen:
    @pytest.mark.parametrize("size", SIZES)
    def test_detail(self, snap_compare, make_app, size):
        app = make_app()

        async def ready(pilot):
            await settle(app, pilot)
            await select_row(app, pilot, "RedHatAI/Qwen3-30B-A3B-NVFP4")
            await pilot.press("enter")
            await pilot.pause()

        assert snap_compare(app, terminal_size=size, run_before=ready)


    @pytest.mark.parametrize("size", SIZES)
    def test_detail_of_an_incompatible_model(self, snap_compare, make_app, size):
        app = make_app()

        async def ready(pilot):
            await settle(app, pilot)
            await select_row(app, pilot, "nvidia/DeepSeek-R1-NVFP4")
            await pilot.press("enter")
            await pilot.pause()

        assert snap_compare(app, terminal_size=size, run_before=ready)


class TestLaunchDialog:
    @pytest.mark.parametrize("size", SIZES)
    def test_incompatible(self, snap_compare, make_app, size):
        from spark_tui.engines.runtime import VllmRuntime

        runtime = VllmRuntime("local", "/opt/venv/bin/vllm")
        # Fixed answers for what differs between machines: which vLLM runs, and whether port 8000 is free.
        app = make_app(resolve_runtime=lambda engine: vllm_only(engine, runtime), runtime_version=lambda r: "0.28.0",
                       port_is_free=lambda host, port: True)

        async def ready(pilot):
            await settle(app, pilot)
            await select_row(app, pilot, "RedHatAI/Qwen3-VL-235B-A22B-Instruct-NVFP4")
            await pilot.press("enter")
            await pilot.pause()
            await pilot.press("L")
            await pilot.pause()

        assert snap_compare(app, terminal_size=size, run_before=ready)


class TestHelpScreen:
    @pytest.mark.parametrize("size", SIZES)
    def test_main_keys(self, snap_compare, make_app, size):
        app = make_app()

        async def ready(pilot):
            await settle(app, pilot)
            await pilot.press("question_mark")
            await pilot.pause()

        assert snap_compare(app, terminal_size=size, run_before=ready)


class TestRulesScreen:
    @pytest.mark.parametrize("size", SIZES)
    def test_rules(self, snap_compare, make_app, size):
        app = make_app()

        async def ready(pilot):
            await settle(app, pilot)
            await pilot.press("r")
            await pilot.pause()

        assert snap_compare(app, terminal_size=size, run_before=ready)


class TestHardwareDialog:
    @pytest.mark.parametrize("size", SIZES)
    def test_pick(self, snap_compare, make_app, size):
        app = make_app()

        async def ready(pilot):
            await settle(app, pilot)
            await pilot.press("h")
            await pilot.pause()

        assert snap_compare(app, terminal_size=size, run_before=ready)
