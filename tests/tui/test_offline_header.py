"""The app without a Hub (issue 13, bug 7): rows and search say so at once, and the header says what is true —
offline, and how many models it still has metadata for — not "cached data" when nothing is cached."""

from __future__ import annotations

import time

from spark_tui.hardware import from_profile
from spark_tui.hardware.profiles import load_profiles
from spark_tui.hub import reach
from spark_tui.tui.widgets.machine import machine_text
from tests.support.fault_proxy import closed_port
from tests.tui.conftest import settle
from tests.tui.test_app import table_rows, text_of

BOUND_S = 3.0  # the requirement; the app answers in a fraction of a second


def _refused(monkeypatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("SPARK_TUI_HUB_TIMEOUT", "30")  # only a fast answer passes
    reach.forget()


async def test_no_hub_and_nothing_cached(make_app, monkeypatch):
    _refused(monkeypatch)
    app = make_app()
    start = time.monotonic()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert time.monotonic() - start < BOUND_S + 2  # + the app's own start under Pilot
        header = " ".join(text_of(app, "#machine").split())
        assert "OFFLINE · nothing cached" in header and "cached data" not in header
        assert all(verdict == "⚠ error" for _, verdict, *_ in table_rows(app).values())
        asked = time.monotonic()
        await pilot.press("slash", *"qwen", "enter")
        while not app._notifications and time.monotonic() - asked < 30:
            await pilot.pause(0.05)
        assert time.monotonic() - asked < BOUND_S
        assert any("Search failed: cannot reach" in n.message for n in app._notifications)


async def test_no_hub_with_one_model_cached(make_app):
    from spark_tui.errors import HubUnavailableError
    from spark_tui.hub import load_model_facts

    load_model_facts("RedHatAI/Qwen3-8B-NVFP4")  # from the emulator, into this test's cache

    def unreachable(model: str):  # the cache is per endpoint: the Hub goes away, the endpoint stays
        raise HubUnavailableError(f"Cannot reach the Hub (connection refused) and {model} is not cached.")

    app = make_app(load_facts=unreachable)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert "OFFLINE · 1 model cached" in " ".join(text_of(app, "#machine").split())
        assert table_rows(app)["RedHatAI/Qwen3-8B-NVFP4"][1] == "OK"


def test_the_header_counts_what_is_cached():
    hardware = from_profile(load_profiles()["gb10"])

    def said(offline: bool, cached: int) -> str:
        return machine_text(hardware, None, True, [], False, offline, auto=False, cached=cached).plain

    assert "OFFLINE" not in said(False, 3)
    assert said(True, 0).endswith("OFFLINE · nothing cached")
    assert said(True, 1).endswith("OFFLINE · 1 model cached")
    assert said(True, 3).endswith("OFFLINE · 3 models cached")
