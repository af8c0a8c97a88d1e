"""Odd and hostile input on the command line: names that would become paths, ids that are not ids, numbers out
of range. Each is refused in one sentence (exit 3), at once, writing nothing anywhere."""

from __future__ import annotations

import re

import pytest

from tests.faults.conftest import Sandbox, judge

LONG = "a" * 300

# (command line, a word the answer must contain, or None)
ROWS: list[tuple[tuple[str, ...], str | None]] = [
    (("check", ""), None),
    (("check", "/"), None),
    (("check", "x" * 10_000), None),
    (("check", "../../etc"), None),
    (("check", "owner/name/extra"), None),
    (("check", "RedHatAI/Qwen3-8B-NVFP4", "--port", "70000"), "port"),
    (("check", "RedHatAI/Qwen3-8B-NVFP4", "--port", "0"), "port"),
    (("check", "RedHatAI/Qwen3-8B-NVFP4", "--max-model-len", "-5"), None),
    (("check", "RedHatAI/Qwen3-8B-NVFP4", "--gpu-memory-utilization", "nan"), None),
    (("check", "RedHatAI/Qwen3-8B-NVFP4", "--engine-version", "latest"), "version"),
    (("check", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "../../etc/passwd"), None),
    (("serve", "RedHatAI/Qwen3-8B-NVFP4", "--name", "../escape", "--dry-run"), "name"),
    (("serve", "RedHatAI/Qwen3-8B-NVFP4", "--name", "a/b", "--dry-run"), "name"),
    (("serve", "RedHatAI/Qwen3-8B-NVFP4", "--name", LONG, "--dry-run"), "name"),
    (("serve", "RedHatAI/Qwen3-8B-NVFP4", "--port", "70000", "--dry-run"), "port"),
    (("stop", "../escape"), "name"),
    (("stop", "a/b"), "name"),
    (("logs", "../escape"), "name"),
    (("logs", "x", "-n", "0"), None),
    (("logs", "x", "-n", "-3"), None),
    (("bench", "../escape"), "name"),
    (("bench", "x", "-c", "0"), None),
    (("bench", "x", "-n", "0"), None),
    (("cache", "rm", "../../etc", "-y"), None),
    (("cache", "rm", "/etc", "-y"), None),
    (("pull", "../../etc"), None),
    (("pull", "x" * 10_000), None),
    (("rules", "show", "../../etc/passwd"), None),
]


def _id(argv: tuple[str, ...]) -> str:
    return re.sub(r"\W+", "-", " ".join(a if len(a) < 20 else f"{a[:6]}x{len(a)}" for a in argv))[:60] or "empty"


@pytest.mark.parametrize("row", ROWS, ids=[_id(r[0]) for r in ROWS])
def test_odd_input_is_refused_in_one_sentence(sandbox: Sandbox, row: tuple[tuple[str, ...], str | None]) -> None:
    argv, word = row
    outcome = sandbox.run(*argv)
    shown = " ".join(a if len(a) < 40 else f"<{len(a)} chars>" for a in argv)
    judge(outcome, area="input", command=shown or "check ''", fault="odd input", contains=word)
    # Nothing was planned or written for refused input: no server record, no log.
    assert not list(sandbox.state.rglob("*.json")), "a refused command left a record"
