"""The fault suite's harness: run the real `spark-tui` as a user would (a subprocess, in a process group of its
own, with every folder it may write to inside one sandbox), then judge what came back the same way for every row:

- the exit status is the one the row expects;
- a failure is told in one sentence (one `spark-tui:` line, at most one hint line) and never as a traceback;
- it answered within the row's bound (no hang);
- nothing was written outside the sandbox's own folders (the sandbox's parent and the working folder stay as
  they were);
- no process of its group is left behind (no orphan).

Every row is recorded; at the end the suite prints its matrix and counts (and writes them as JSON when
SPARK_TUI_FAULTS_REPORT names a file: bench/faults_report.py turns that into RELIABILITY.md's figures).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from tests.support.fault_proxy import FaultProxy
from tests.support.hub_emulator import HubEmulator

ROOT = Path(__file__).resolve().parents[2]
# The Hub deadline the suite runs under: every answer under a dead Hub must come within this plus start-up.
HUB_TIMEOUT_S = 3.0
ANSWER_BOUND_S = HUB_TIMEOUT_S + 7.0


@dataclass
class Outcome:
    code: int | None
    out: str
    err: str
    seconds: float
    orphans: list[int] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.out + self.err

    @property
    def sentences(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("spark-tui: ")]


@dataclass
class Row:
    area: str
    command: str
    fault: str
    expected: str
    code: int | None
    seconds: float
    sentence: str
    passed: bool
    problems: list[str]


ROWS: list[Row] = []


class Sandbox:
    """Every folder spark-tui may write to, inside one tmp folder; a working folder and the parent are watched."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "box"
        self.cwd = self.root / "cwd"
        self.home = self.root / "home"
        self.cache = self.root / "cache"
        self.config = self.root / "config"
        self.state = self.root / "state"
        self.hf_home = self.root / "hf"
        for folder in (self.cwd, self.home, self.cache, self.config, self.state, self.hf_home):
            folder.mkdir(parents=True, exist_ok=True)
        # A decoy beside the sandbox: a path escaping it lands here first.
        (base / "outside").mkdir()
        (base / "outside" / "keep.txt").write_text("must stay as it is\n")
        self.env = {
            "HOME": str(self.home), "XDG_CACHE_HOME": str(self.home / ".cache"),
            "XDG_CONFIG_HOME": str(self.home / ".config"), "XDG_STATE_HOME": str(self.home / ".state"),
            "HF_HOME": str(self.hf_home), "SPARK_TUI_CACHE_DIR": str(self.cache),
            "SPARK_TUI_CONFIG_DIR": str(self.config), "SPARK_TUI_STATE_DIR": str(self.state),
            "SPARK_TUI_HUB_TIMEOUT": f"{HUB_TIMEOUT_S:g}", "NO_COLOR": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_XET": "1", "PYTHONUNBUFFERED": "1",
        }
        self._before = self._outside_listing()

    def _outside_listing(self) -> dict[str, tuple[int, int]]:
        seen: dict[str, tuple[int, int]] = {}
        for path in [self.base, *self.base.iterdir(), *(self.base / "outside").rglob("*"), *self.cwd.rglob("*")]:
            if path == self.root or (self.root in path.parents and self.cwd not in path.parents):
                continue
            st = path.lstat()
            seen[str(path)] = (st.st_size, st.st_mtime_ns) if path != self.base else (0, 0)
        return seen

    def written_outside(self) -> list[str]:
        after = self._outside_listing()
        return sorted(p for p, sig in after.items() if self._before.get(p) != sig)

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60.0,
            interrupt_after: float | None = None, stdin: str | None = None) -> Outcome:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "SPARK_TUI_"))}
        full_env.update(self.env)
        full_env.update(env or {})
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "spark_tui", *args], cwd=self.cwd, env=full_env,
                                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        if interrupt_after is not None:
            time.sleep(interrupt_after)
            started = time.monotonic()  # the clock now measures how fast Ctrl-C is obeyed
            os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            code = None  # a hang
        seconds = time.monotonic() - started
        return Outcome(code, out, err, seconds, orphans=_group_left(proc.pid), outside=self.written_outside())


def _group_left(pgid: int) -> list[int]:
    """The command's own process group (it was started as its leader), if anything of it is still there; then
    that group is killed so one failed row does not leak into the next."""
    for attempt in range(4):  # a process may be on its way out: look a few times
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        time.sleep(0.2 * (attempt + 1))
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    return [pgid]


def judge(outcome: Outcome, *, area: str, command: str, fault: str, codes: tuple[int, ...] | int = 3,
          bound_s: float = ANSWER_BOUND_S, sentence: bool = True, contains: str | None = None) -> None:
    """The common verdict on one row; records it for the matrix, then fails the test with every problem."""
    codes = (codes,) if isinstance(codes, int) else codes
    problems = []
    if outcome.code is None:
        problems.append("hung (killed at the test's limit)")
    elif outcome.code not in codes:
        problems.append(f"exit {outcome.code}, expected {'/'.join(map(str, codes))}")
    if outcome.traceback:
        problems.append("printed a traceback")
    if outcome.seconds > bound_s:
        problems.append(f"took {outcome.seconds:.1f} s (bound {bound_s:g} s)")
    if sentence and outcome.code not in (0, 1, 2, None):
        if not outcome.sentences:
            problems.append("no 'spark-tui: …' sentence on stderr")
        elif len(outcome.sentences) > 1:
            problems.append(f"{len(outcome.sentences)} error sentences, expected one")
    if contains and contains.lower() not in (outcome.out + outcome.err).lower():
        problems.append(f"does not say {contains!r}")
    if outcome.outside:
        problems.append(f"wrote outside its folders: {outcome.outside[:3]}")
    if outcome.orphans:
        problems.append(f"left processes behind: {outcome.orphans}")
    said = (outcome.sentences or [line for line in outcome.err.splitlines() if line.strip()] or [""])[0]
    ROWS.append(Row(area, command, fault, "/".join(map(str, codes)), outcome.code, round(outcome.seconds, 2),
                    said[:160], not problems, problems))
    if problems:
        pytest.fail(f"{command} under {fault}: " + "; ".join(problems) + f"\nstderr:\n{outcome.err[-2000:]}",
                    pytrace=False)


def failure_object(outcome: Outcome) -> dict:
    """What `check --json` printed on stdout when it failed: one object a script can read (never nothing, never a
    half answer), saying the same as the stderr sentence."""
    from spark_tui.errors import error_kinds

    data = json.loads(outcome.out)
    assert data["verdict"] == "unknown", data
    assert data["error"]["kind"] in error_kinds(), data
    assert f"spark-tui: {data['error']['message']}" in outcome.sentences, (outcome.sentences, data)
    return data


@pytest.fixture(scope="session")
def proxy(hub_server: HubEmulator) -> Iterator[FaultProxy]:
    front = FaultProxy(hub_server.url).start()
    yield front
    front.stop()


@pytest.fixture
def sandbox(tmp_path: Path, proxy: FaultProxy, hub_server: HubEmulator) -> Iterator[Sandbox]:
    proxy.clear()
    hub_server.clear()
    box = Sandbox(tmp_path)
    box.env["HF_ENDPOINT"] = proxy.url
    yield box
    proxy.clear()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    write = terminalreporter.write_line
    write("")
    write("fault matrix (area | command | fault | expected → got | seconds | first line said)", bold=True)
    for row in ROWS:
        mark = "ok  " if row.passed else "FAIL"
        write(f"{mark} {row.area:8} | {row.command[:38]:38} | {row.fault[:34]:34} | {row.expected:>5} → "
              f"{'hang' if row.code is None else row.code!s:>4} | {row.seconds:5.1f} | {row.sentence[:70]}")
    failed = [r for r in ROWS if not r.passed]
    tracebacks = sum("printed a traceback" in r.problems or r.code == 4 for r in ROWS)  # 4: the last resort
    hangs = sum(r.code is None for r in ROWS)
    longest = max((r.seconds for r in ROWS if r.area == "hub"), default=0.0)
    outside = sum(any(p.startswith("wrote outside") for p in r.problems) for r in ROWS)
    orphans = sum(any(p.startswith("left processes") for p in r.problems) for r in ROWS)
    write(f"faults tried: {len(ROWS)}, survived: {len(ROWS) - len(failed)}, tracebacks or internal errors: "
          f"{tracebacks}, hangs: {hangs}, wrote outside their folders: {outside}, left orphans: {orphans}, "
          f"longest answer under a faulty Hub: {longest:.1f} s", bold=True)
    report = os.environ.get("SPARK_TUI_FAULTS_REPORT")
    if report:
        Path(report).write_text(json.dumps([asdict(r) for r in ROWS], indent=1))
