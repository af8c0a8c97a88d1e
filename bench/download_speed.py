"""Download throughput: `spark-tui pull` against `hf download` of the same repo from the same Hub emulator (a
separate process), each into a fresh cache, interleaved, several rounds; medians and their ratio.

    python bench/download_speed.py [--files 4 --mib 256 --rounds 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    repo = "bench/Download-Speed"
    server = subprocess.Popen([sys.executable, "-m", "tests.support.hub_emulator", "--port", str(port),
                               "--bench-repo", f"{repo}:{args.files}:{args.mib}"], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    server.stdout.readline()  # its URL: it is listening
    bin_dir = Path(sys.executable).parent
    work = Path(tempfile.mkdtemp())
    total_mib = args.files * args.mib
    results: dict[str, list[float]] = {"hf download": [], "spark-tui pull": []}
    try:
        for round_ in range(args.rounds):
            for name, argv in (("hf download", [str(bin_dir / "hf"), "download", repo]),
                               ("spark-tui pull", [str(bin_dir / "spark-tui"), "pull", repo])):
                home = work / f"{name.split()[0]}-{round_}"
                env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HOME": str(home),
                       "SPARK_TUI_CACHE_DIR": str(home / "st"), "HF_HUB_DISABLE_TELEMETRY": "1"}
                results[name].append(timed(argv, env))
                shutil.rmtree(home, ignore_errors=True)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.files} files × {args.mib} MiB = {total_mib} MiB, {args.rounds} rounds, interleaved")
    medians = {}
    for name, times in results.items():
        medians[name] = statistics.median(times)
        print(f"{name:15} median {medians[name]:.2f} s ({total_mib / medians[name]:.0f} MiB/s); runs: "
              + ", ".join(f"{t:.2f}" for t in times))
    print(f"spark-tui pull / hf download time ratio: {medians['spark-tui pull'] / medians['hf download']:.2f} "
          "(below 1: faster)")


if __name__ == "__main__":
    main()
