"""The installed `spark-tui` entry point in a real terminal (tmux), against the Hub emulator: find a model,
read why it is a caution, change max-model-len, copy the command, resize, quit — all by keyboard."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.support.tmux import TmuxSession

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed: the real-terminal test "
                                "needs it (apt-get install tmux); everything else runs without it")
ENTRY_POINT = Path(sys.executable).parent / "spark-tui"


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_find_read_change_copy_quit(hub, size):
    env = {k: os.environ[k] for k in ("HF_ENDPOINT", "HF_HOME", "SPARK_TUI_CACHE_DIR", "SPARK_TUI_CONFIG_DIR")}
    env["TERM"] = "xterm-256color"
    session = TmuxSession(f"spark-tui-test-{os.getpid()}-{size[0]}", [str(ENTRY_POINT), "--hardware", "gb10"], env,
                          *size)
    try:
        session.wait_for("Planning for gb10", "RedHatAI/Qwen3-30B-A3B-NVFP4")
        session.wait_for("CAUTION")
        session.keys("/")
        session.type("Qwen3-30B")  # the table narrows to the matches as you type
        session.keys("Enter")  # the cursor on the first match
        session.wait_for("RedHatAI/Qwen3-30B-A3B-NVFP4 (MoE (caution))")
        assert "RedHatAI/Qwen3-8B-NVFP4" not in session.screen()  # narrowed, not appended below
        session.keys("Enter")
        # The verdict and the finding behind it on the first screen, before the memory bar, at any size.
        screen = session.wait_for("Verdict: CAUTION", "why: ")
        assert screen.index("why: ") < screen.index("Memory per GPU") if "Memory per GPU" in screen else True
        session.wait_for("Launch (c copies it)")  # the screen is fully drawn
        for _ in range(40):  # on a small terminal the findings are further down: scroll to them
            if "#31782 does not apply" in " ".join(session.screen().split()):
                break
            session.keys("Down", pause=0.1)
        session.wait_for("#31782 does not apply")
        session.keys("l")
        session.type("16384")
        session.keys("Enter")
        session.wait_for("max-model-len 16,384 (given")
        session.keys("c")
        session.wait_for("Launch command copied")
        session.resize(60, 20)  # a small terminal mid-use degrades, does not crash
        session.resize(*size)
        session.wait_for("max-model-len 16,384 (given")  # still alive, still showing the plan
        session.keys("Escape", pause=0.6)  # a lone Escape (not the start of an Alt sequence)
        session.keys("q")
        screen = session.wait_for("EXIT=0")
        assert "Traceback" not in screen
    finally:
        session.close()


def test_app_needs_a_terminal(cli):
    r = cli()  # no command, stdout is a pipe
    assert r.code == 3 and "needs a terminal" in r.err and "Traceback" not in r.err


BROKEN_APP = '''
import sys
from pathlib import Path

import spark_tui.tui.app as app_module
from spark_tui.services import default_services
from spark_tui.tui.app import SparkTuiApp
from textual.binding import Binding


class Broken(SparkTuiApp):
    CSS_PATH = str(Path(app_module.__file__).parent / "app.tcss")
    BINDINGS = [*SparkTuiApp.BINDINGS, Binding("x", "explode", "Explode")]

    def action_explode(self) -> None:
        raise ZeroDivisionError("planted bug, token hf_abcdefghijklmnop")


app = Broken(default_services(None), hardware="gb10", refresh_from_hub=False, poll_servers=False)
app.run()
sys.exit(app.return_code or 0)
'''


def test_a_bug_in_the_app_ends_in_one_sentence_and_a_report(hub, tmp_path):
    """The app's last resort, in a real terminal: a planted bug behind a key ends the app with one sentence, the
    report's path and exit status 4; the traceback is in the report, not on the screen."""
    script = tmp_path / "broken_app.py"
    script.write_text(BROKEN_APP)
    env = {k: os.environ[k] for k in ("HF_ENDPOINT", "HF_HOME", "SPARK_TUI_CACHE_DIR", "SPARK_TUI_CONFIG_DIR")}
    env.update(TERM="xterm-256color", SPARK_TUI_STATE_DIR=str(tmp_path / "state"), HF_HUB_OFFLINE="1")
    session = TmuxSession(f"spark-tui-crash-{os.getpid()}", [sys.executable, str(script)], env, 100, 30)
    try:
        session.wait_for("Planning for gb10")
        session.keys("x")
        screen = session.wait_for("EXIT=4")
        assert "internal error (ZeroDivisionError); this is a bug in spark-tui" in " ".join(screen.split())
        assert "Traceback" not in screen
        reports = list((tmp_path / "state" / "crash-reports").glob("crash-*.txt"))
        assert len(reports) == 1
        text = reports[0].read_text()
        assert "ZeroDivisionError: planted bug" in text and "hf_abcdefghijklmnop" not in text
    finally:
        session.close()
