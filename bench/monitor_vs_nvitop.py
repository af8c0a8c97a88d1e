"""CPU use of spark-tui's Servers screen against nvitop's monitor on the same GPU machine, same minute: both drawn
in a pseudo-terminal of 120×40 (no tmux needed), refreshing once a second, while a torch process holds GPU memory
and works a little and a vLLM stand-in serves. Rounds alternate the two; CPU time of each process over the window.

    python bench/monitor_vs_nvitop.py [--seconds 40] [--rounds 2]   (needs nvitop and an NVIDIA GPU)
"""

from __future__ import annotations

import argparse
import fcntl
import os
import platform
import pty
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support.hub_emulator import HubEmulator  # noqa: E402
from tests.support.stand_ins import stand_in  # noqa: E402

HOLDER = """
import time, torch
x = torch.empty(10 * 1024**3, dtype=torch.uint8, device="cuda")  # 10 GiB held
a = torch.randn(2048, 2048, device="cuda")
while True:
    for _ in range(20):
        a = (a @ a).tanh()
    torch.cuda.synchronize()
    time.sleep(0.5)
"""


def in_pty(argv: list[str], env: dict[str, str], screen: bytearray) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))

    def drain() -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return
            if not data:
                return
            screen.extend(data)
            del screen[:-200_000]  # the last frames are enough to check what was on screen

    threading.Thread(target=drain, daemon=True).start()
    return pid, fd


def cpu_seconds(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def measure(argv: list[str], env: dict[str, str], seconds: float, expect: list[bytes], keys: bytes = b"",
            settle: float = 8.0) -> float:
    screen = bytearray()
    pid, fd = in_pty(argv, env, screen)
    try:
        time.sleep(settle)
        if keys:
            os.write(fd, keys)
            time.sleep(6)
        before, start = cpu_seconds(pid), time.perf_counter()
        time.sleep(seconds)
        used, wall = cpu_seconds(pid) - before, time.perf_counter() - start
        missing = [e for e in expect if e not in screen]
        assert not missing, f"{argv}: {missing} never drawn; the screen's end: {bytes(screen[-2000:])!r}"
        return used / wall * 100
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    hub = HubEmulator().start()
    fake = stand_in(work / "vllm", "fake_vllm.py")
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": str(work / "hf"), "SPARK_TUI_CACHE_DIR": str(work / "c"),
           "SPARK_TUI_STATE_DIR": str(work / "s"), "FAKE_VLLM_DELAY": "0.5", "TERM": "xterm-256color",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER])
    subprocess.run([sys.executable, "-m", "spark_tui", "serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "h100",
                    "--vllm", str(fake), "--port", "auto", "--name", "bench", "--wait", "30"], env=env, check=True,
                   capture_output=True)
    started = time.monotonic()
    results: dict[str, list[float]] = {"nvitop (monitor, --interval 1)": [], "spark-tui Servers screen": []}
    try:
        for _ in range(args.rounds):
            results["nvitop (monitor, --interval 1)"].append(
                measure([sys.executable, "-m", "nvitop", "--interval", "1"], env, args.seconds, [b"H100"]))
            time.sleep(max(0.0, 65 - (time.monotonic() - started)))  # past the server's first minute
            results["spark-tui Servers screen"].append(
                measure([sys.executable, "-m", "spark_tui", "--hardware", "h100"], env, args.seconds,
                        [b"bench", b"ready", b"GPU0"], keys=b"S"))
    finally:
        subprocess.run([sys.executable, "-m", "spark_tui", "stop", "bench"], env=env, capture_output=True)
        holder.kill()
        hub.stop()
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True).stdout.strip()
    print(f"machine: {gpu}; {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.seconds:.0f} s windows, {args.rounds} rounds alternating")
    for name, values in results.items():
        print(f"{name:32} " + ", ".join(f"{v:.2f} %" for v in values) + " of one core")


if __name__ == "__main__":
    main()
