"""Time from launching `spark-tui` in a real terminal (tmux) to its first frame showing the catalog, as a ratio
to launching `python -c "print('ready')"` the same way, measured in the same run.

    python bench/app_first_frame.py [--runs 7]

"First frame" = the machine header and the first catalog row are on the screen (metadata may still be
loading behind them). Uses the Hub emulator so nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.hub_emulator import HubEmulator


def until_visible(command: str, text: str, env: dict[str, str]) -> float:
    name = f"bench-{os.getpid()}-{time.monotonic_ns()}"
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    start = time.perf_counter()
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40",
                    f"env {exports} {command}; sleep 5"], check=True)
    try:
        while time.perf_counter() - start < 30:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout
            if text in screen:
                return time.perf_counter() - start
            time.sleep(0.01)
        raise RuntimeError(f"{text!r} never appeared")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    exe = shutil.which("spark-tui")
    if not exe or not shutil.which("tmux"):
        sys.exit("needs the installed spark-tui and tmux")
    hub = HubEmulator().start()
    work = tempfile.mkdtemp()
    env = {"HF_ENDPOINT": hub.url, "HF_HOME": f"{work}/hf", "SPARK_TUI_CACHE_DIR": f"{work}/cache",
           "TERM": "xterm-256color"}
    baseline, app = [], []
    for _ in range(args.runs):
        baseline.append(until_visible(f"{sys.executable} -c \"print('ready')\"", "ready", env))
        app.append(until_visible(f"{exe} --hardware gb10", "RedHatAI/Qwen3-8B-NVFP4", env))
    hub.stop()
    shutil.rmtree(work, ignore_errors=True)
    base, first = statistics.median(baseline), statistics.median(app)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"python -c print, tmux  median {base * 1000:6.0f} ms")
    print(f"spark-tui first frame  median {first * 1000:6.0f} ms (min {min(app) * 1000:.0f}, max "
          f"{max(app) * 1000:.0f}) = {first / base:.1f}×")


if __name__ == "__main__":
    main()
