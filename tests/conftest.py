from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.hub_emulator import HubEmulator

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def hub_server() -> Iterator[HubEmulator]:
    hub = HubEmulator().start()
    yield hub
    hub.stop()


@pytest.fixture
def hub(hub_server: HubEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[HubEmulator]:
    """The emulator, with this test's own empty HF and spark-tui caches pointed at it."""
    from spark_tui.hub import reach

    hub_server.clear()
    reach.forget()  # what an earlier test's Hub looked like (up or down) is not this one's
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("SPARK_TUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SPARK_TUI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("SPARK_TUI_STATE_DIR", str(tmp_path / "state"))  # launches here teach only this test's checks
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("SPARK_TUI_HUB_TIMEOUT", "5")
    for name in ("HF_TOKEN", "HF_HUB_OFFLINE", "SPARK_TUI_RULES", "HF_HUB_DISABLE_XET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    yield hub_server
    hub_server.clear()


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(hub: HubEmulator):
    """Run the real `spark-tui` command (a subprocess, as a user would) against the emulator."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.run([sys.executable, "-m", "spark_tui", *args], capture_output=True, text=True,
                              env=full_env, timeout=timeout, cwd=ROOT)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run
