"""How fast spark-tui says the Hub cannot be reached (issue 13: within 3 s for a refused or unresolvable Hub).

    python bench/offline_answers.py [--runs 5]

Times, with nothing cached: the app's Hub search (spark_tui.hub.search.search_models) and `spark-tui check MODEL
--json` as a process, against a closed port on 127.0.0.1 and an unresolvable host (http://hub.invalid), next to
`python -c pass` run in the same go (the machine's noise)."""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the socket is: nothing listens there


def timed(run, runs: int) -> float:
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        took.append(time.perf_counter() - start)
    return statistics.median(took)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = tempfile.mkdtemp()
    base = {**os.environ, "HF_HOME": f"{work}/hf", "SPARK_TUI_CACHE_DIR": f"{work}/cache",
            "SPARK_TUI_CONFIG_DIR": f"{work}/config", "SPARK_TUI_STATE_DIR": f"{work}/state"}
    exe = str(Path(sys.executable).parent / "spark-tui")
    floor = timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=False), args.runs)
    print(f"machine: {os.uname().machine}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"python -c pass                 median {floor * 1000:7.1f} ms")
    for label, endpoint in (("refused (closed port)", f"http://127.0.0.1:{closed_port()}"),
                            ("unresolvable (hub.invalid)", "http://hub.invalid")):
        env = {**base, "HF_ENDPOINT": endpoint}

        def search(env=env) -> None:
            code = ("import os, sys; from spark_tui.hub.search import search_models\n"
                    "try: search_models('qwen3')\nexcept Exception: pass")
            subprocess.run([sys.executable, "-c", code], env=env, check=False, capture_output=True)

        def check(env=env) -> None:
            subprocess.run([exe, "check", "RedHatAI/Qwen3-8B-NVFP4", "--json"], env=env, check=False,
                           capture_output=True)

        s, c = timed(search, args.runs), timed(check, args.runs)
        print(f"{label:27}    search median {s:6.2f} s ({s / floor:5.1f}× python -c pass) · "
              f"check --json median {c:6.2f} s ({c / floor:5.1f}×)")


if __name__ == "__main__":
    main()
