"""How each screen looks, at 80×24 and 120×40, with deterministic data (the emulator's repos, the gb10 profile,
fixed engine list). Update after an intended change with: pytest tests/tui/test_snapshots.py --snapshot-update"""

from __future__ import annotations

import pytest

from tests.tui.conftest import select_row, settle

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
