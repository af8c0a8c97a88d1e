"""Runs an engine as its child and records how it ended. Started detached (its own session) by the supervisor, so
an SSH drop or the launching process exiting does not touch it; `spark-tui stop` signals this whole group.

    python -m spark_tui.engines.runner EXIT_FILE -- ARGV...
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from spark_tui.files import write_json_atomic


def main(argv: list[str]) -> int:
    exit_file = Path(argv[0])
    command = argv[argv.index("--") + 1:]
    try:
        child = subprocess.Popen(command)  # same process group as this runner
    except OSError as exc:
        print(f"spark-tui: cannot start {command[0]}: {exc.strerror or exc}", flush=True)
        write_json_atomic(exit_file, {"exit_code": 127, "ended_at": time.time()})
        return 127

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    code = child.wait()
    write_json_atomic(exit_file, {"exit_code": code, "ended_at": time.time()})
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
