"""Run the fault suite (tests/faults) and print RELIABILITY.md's figures and catalogue as Markdown.

    python bench/faults_report.py > /tmp/faults.md          # runs the suite (a few minutes)
    python bench/faults_report.py --from rows.json          # from a saved run's rows

Each row is one fault applied to one command, judged by tests/faults/conftest.py: exit status, one sentence, no
traceback, bounded time, nothing written outside the sandbox, no process left in the command's group.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AREAS = {
    "hub": "A flaky, dead or hostile Hub",
    "config": "Absurd and wrong-typed config.json",
    "input": "Odd and hostile command-line input",
    "state": "Damaged state (caches, settings, rules, records)",
    "process": "Killed processes and races",
    "disk": "Full disks",
}


def run_suite() -> tuple[list[dict], float]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rows.json"
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/faults"], cwd=ROOT,
                       env={**os.environ, "SPARK_TUI_FAULTS_REPORT": str(report)}, check=False,
                       stdout=subprocess.DEVNULL)
        return json.loads(report.read_text()), time.monotonic() - started


def render(rows: list[dict], seconds: float | None) -> str:
    failed = [r for r in rows if not r["passed"]]
    tracebacks = sum("printed a traceback" in r["problems"] or r["code"] == 4 for r in rows)
    hangs = sum(r["code"] is None for r in rows)
    outside = sum(any(p.startswith("wrote outside") for p in r["problems"]) for r in rows)
    orphans = sum(any(p.startswith("left processes") for p in r["problems"]) for r in rows)
    hub = [r for r in rows if r["area"] == "hub" and "Ctrl-C" not in r["fault"]]
    ctrl_c = [r["seconds"] for r in rows if "Ctrl-C" in r["fault"]]
    lines = [
        f"Run: {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}" + (f", suite {seconds:.0f} s" if seconds else "") + ".",
        "",
        "| figure | value |",
        "|---|---|",
        f"| faults tried | {len(rows)} |",
        f"| survived (every check of the row held) | {len(rows) - len(failed)} |",
        f"| tracebacks or internal errors | {tracebacks} |",
        f"| hangs | {hangs} |",
        f"| files written outside their folder | {outside} |",
        f"| processes left behind | {orphans} |",
        f"| longest answer under a faulty Hub (deadline {3} s) | "
        f"{max((r['seconds'] for r in hub), default=0):.1f} s |",
        f"| slowest Ctrl-C obeyed | {max(ctrl_c, default=0):.2f} s |",
        "",
    ]
    by_area: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_area[row["area"]].append(row)
    for area, title in AREAS.items():
        if area not in by_area:
            continue
        lines += [f"### {title}", "", "| command | fault | exit | s | what it says |", "|---|---|---|---|---|"]
        for r in by_area[area]:
            said = r["sentence"].replace("|", "\\|") or "(the verdict, on stdout)"
            mark = "" if r["passed"] else " **FAILED: " + "; ".join(r["problems"]) + "**"
            lines.append(f"| `{r['command']}` | {r['fault']} | {'hang' if r['code'] is None else r['code']} | "
                         f"{r['seconds']:.1f} | {said}{mark} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, help="rows saved by a run (SPARK_TUI_FAULTS_REPORT)")
    args = parser.parse_args()
    if args.source:
        rows, seconds = json.loads(args.source.read_text()), None
    else:
        rows, seconds = run_suite()
    print(render(rows, seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
