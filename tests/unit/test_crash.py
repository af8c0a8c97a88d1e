"""The last-resort handler: a bug ends in one sentence and a saved report, exit 4."""

from __future__ import annotations

from pathlib import Path

import pytest

from spark_tui import cli
from spark_tui.crash import redact


def test_an_unexpected_exception_is_one_sentence_and_a_report(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SPARK_TUI_STATE_DIR", str(tmp_path))

    def broken(_args: object) -> int:
        raise ZeroDivisionError("division by zero in hf_abcdefghijkl's config")

    monkeypatch.setattr(cli, "cmd_hw", broken)
    code = cli.main(["hw", "--hardware", "gb10"])
    err = capsys.readouterr().err
    assert code == 4
    assert "Traceback" not in err
    assert err.startswith("spark-tui: internal error (ZeroDivisionError); this is a bug in spark-tui.")
    reports = list((tmp_path / "crash-reports").glob("crash-*.txt"))
    assert len(reports) == 1 and str(reports[0]) in err
    text = reports[0].read_text()
    assert "Traceback (most recent call last)" in text and "ZeroDivisionError" in text
    assert "hf_abcdefghijkl" not in text  # a token never lands in the report


def test_no_report_folder_still_one_sentence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("SPARK_TUI_STATE_DIR", str(blocker / "state"))  # cannot be created: a file is in the way
    monkeypatch.setattr(cli, "cmd_hw", lambda _a: 1 / 0)
    assert cli.main(["hw"]) == 4
    err = capsys.readouterr().err
    assert "internal error" in err and "Traceback" not in err and "saved" not in err


def test_secrets_are_redacted_from_the_command_line() -> None:
    assert redact(["spark-tui", "serve", "m", "--api-key", "s3cret", "--token=hf_abcdefghijk", "x"]) == [
        "spark-tui", "serve", "m", "--api-key", "***", "--token=***", "x"]
    assert redact(["check", "hf_abcdefghijkl"]) == ["check", "hf_***"]
