"""Quitting the app never waits on a stuck Hub worker (issue 9): a Hub lookup that never returns used to keep the
process alive after `q` had blanked the screen (thread workers are joined when the app's loop closes)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The real app with the real services, except that every Hub lookup and search blocks forever.
SCRIPT = textwrap.dedent("""
    import asyncio, threading
    from tests.tui.conftest import services
    from spark_tui.tui.app import SparkTuiApp

    def stuck(*args):
        threading.Event().wait()

    async def main():
        app = SparkTuiApp(services(load_facts=stuck, search=stuck, cached_facts=lambda model: None), hardware="gb10",
                          poll_servers=False)
        async with app.run_test() as pilot:
            app.run_search("qwen")
            await pilot.pause(0.5)
            await pilot.press("q")
        print("quit", flush=True)

    asyncio.run(main())
""")


def test_quitting_does_not_wait_for_a_stuck_hub_worker(hub, tmp_path):
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=dict(os.environ), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "quit" in proc.stdout, proc.stderr[-2000:]
    assert time.monotonic() - start < 30
