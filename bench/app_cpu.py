"""The app's own CPU use while the Servers screen is open on a running server (it scrapes /metrics, reads the log
and samples the GPU once a second). Uses the vLLM stand-in and the Hub emulator; runs the app under tmux.

    python bench/app_cpu.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support.hub_emulator import HubEmulator  # noqa: E402
from tests.support.stand_ins import stand_in  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--load", action="store_true", help="keep the server busy (spark-tui bench) while measuring, "
                        "so the numbers and sparklines change every second")
    parser.add_argument("--profile", metavar="OUT.txt", help="also sample the app with py-spy (pip install py-spy) "
                        "and write where its time goes")
    args = parser.parse_args()
    exe = shutil.which("spark-tui")
    work = Path(tempfile.mkdtemp())
    hub = HubEmulator().start()
    fake = stand_in(work / "vllm", "fake_vllm.py")
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": str(work / "hf"), "SPARK_TUI_CACHE_DIR": str(work / "c"),
           "SPARK_TUI_STATE_DIR": str(work / "s"), "FAKE_VLLM_DELAY": "0.5", "TERM": "xterm-256color"}
    launched = time.monotonic()
    subprocess.run([exe, "serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--vllm", str(fake), "--port",
                    "auto", "--name", "bench", "--wait", "30"], env=env, check=True, capture_output=True)
    exports = " ".join(f"{k}={env[k]}" for k in ("HF_ENDPOINT", "HF_HOME", "SPARK_TUI_CACHE_DIR",
                                                 "SPARK_TUI_STATE_DIR", "TERM"))
    session = f"cpu-{os.getpid()}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40",
                    f"env {exports} {exe} --hardware gb10"], check=True)
    try:
        time.sleep(6)
        if not os.environ.get("BENCH_IDLE"):
            subprocess.run(["tmux", "send-keys", "-t", session, "S"], check=True)
        # Measure the steady state: past the server's first minute, when its uptime stops ticking in seconds.
        time.sleep(max(5.0, 65 - (time.monotonic() - launched)))
        pane_pid = int(subprocess.run(["tmux", "display-message", "-p", "-t", session, "#{pane_pid}"],
                                      capture_output=True, text=True, check=True).stdout)
        app = psutil.Process(pane_pid)
        screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                                text=True).stdout
        assert os.environ.get("BENCH_IDLE") or ("bench" in screen and "ready" in screen), screen
        load = None
        if args.load:  # two streams at a time for longer than the measurement (a separate process: not counted)
            load = subprocess.Popen([exe, "bench", "bench", "-c", "2", "-n", "100000", "--max-tokens", "200"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(3)
        before, start = app.cpu_times(), time.perf_counter()
        if args.profile:
            subprocess.run(["py-spy", "record", "-p", str(pane_pid), "-d", str(int(args.seconds)), "-r", "200",
                            "-f", "raw", "-o", args.profile], check=True, capture_output=True)
        else:
            time.sleep(args.seconds)
        after, wall = app.cpu_times(), time.perf_counter() - start
        if load is not None:
            load.kill()
        used = (after.user - before.user) + (after.system - before.system)
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        state = "under load" if args.load else "idle" if not os.environ.get("BENCH_IDLE") else "(Servers screen closed)"
        print(f"app CPU with the Servers screen open on a ready server {state}: {used / wall * 100:.2f} % of one core "
              f"over {wall:.0f} s")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        subprocess.run([exe, "stop", "bench"], env=env, capture_output=True)
        hub.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
