"""How long `spark-tui check` takes, cold (empty caches, against the local Hub emulator) and warm
(cached metadata: no network), as a ratio to a bare `python -c pass` measured in the same run.

    python bench/check_speed.py [--runs 15] [--model RedHatAI/Qwen3-30B-A3B-NVFP4]

Also times the imports floor: the standard and chosen modules a warm check needs, imported and nothing else.

Uses the installed `spark-tui` entry point. Byte-code is written (PYTHONDONTWRITEBYTECODE is cleared) as
it is for a normal `pip install`.
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

# What a warm check cannot avoid loading with the design's choices: the console script's `re`, argparse, json,
# pathlib, pickle (the data cache), dataclasses (facts are frozen dataclasses), packaging (version specifiers),
# platformdirs (where the cache is). Before a line of spark-tui runs.
FLOOR = "import re, argparse, json, pathlib, pickle, dataclasses, packaging.specifiers, platformdirs"


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--model", default="RedHatAI/Qwen3-30B-A3B-NVFP4")
    args = parser.parse_args()
    exe = shutil.which("spark-tui")
    if not exe:
        sys.exit("spark-tui is not installed in this environment")
    hub = HubEmulator().start()
    work = Path(tempfile.mkdtemp())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(HF_ENDPOINT=hub.url, NO_COLOR="1")
    check = [exe, "check", args.model, "--hardware", "gb10", "--json"]
    # Warm up the byte-code cache once.
    subprocess.run(check, env={**env, "HF_HOME": str(work / "w"), "SPARK_TUI_CACHE_DIR": str(work / "w")},
                   stdout=subprocess.DEVNULL, check=False)
    baseline, cold, warm, floor = [], [], [], []
    warm_env = {**env, "HF_HOME": str(work / "warm"), "SPARK_TUI_CACHE_DIR": str(work / "warm-st")}
    timed(check, warm_env)
    for i in range(args.runs):
        baseline.append(timed([sys.executable, "-c", "pass"], env))
        floor.append(timed([sys.executable, "-c", FLOOR], env))
        cold_env = {**env, "HF_HOME": str(work / f"c{i}"), "SPARK_TUI_CACHE_DIR": str(work / f"c{i}-st")}
        cold.append(timed(check, cold_env))
        warm.append(timed(check, warm_env))
    hub.stop()
    shutil.rmtree(work, ignore_errors=True)
    base = statistics.median(baseline)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"python -c pass       median {base * 1000:6.1f} ms")
    for name, values in (("imports floor", floor), ("check, warm (cache)", warm), ("check, cold (emulator)", cold)):
        med = statistics.median(values)
        print(f"{name:22} median {med * 1000:6.1f} ms  (min {min(values) * 1000:.1f}, "
              f"max {max(values) * 1000:.1f})  = {med / base:.1f}× python -c pass")


if __name__ == "__main__":
    main()
