"""Damaged state: spark-tui's own caches, settings, user rules and server records, each broken the ways disks,
editors and killed processes break files. What can be rebuilt is rebuilt (the command still answers); what cannot
is said in one sentence; nothing is lost and nothing crashes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.conftest import Sandbox, judge
from tests.faults.test_hub import MODEL

VERDICTS = (0, 1, 2)  # the check still answers


def _warm(box: Sandbox) -> None:
    first = box.run("check", MODEL, "--hardware", "gb10")
    assert first.code in VERDICTS, first.err


def _cache_files(box: Sandbox, pattern: str) -> list[Path]:
    return [p for p in (box.cache / "hub").rglob(pattern) if p.is_file()]


def truncate_refs(box: Sandbox) -> None:
    for path in _cache_files(box, "refs.json"):
        path.write_text(path.read_text()[:17])


def wrong_shape_metadata(box: Sandbox) -> None:
    for path in _cache_files(box, "*.json"):
        if path.name != "refs.json":
            path.write_text(json.dumps({"api": 5, "config": [1], "hf_quant_config": "x"}))


def garbage_data_cache(box: Sandbox) -> None:
    for path in (box.cache / "data").glob("*.pickle"):
        path.write_bytes(b"\x80\x04garbage" * 10)


def cache_folder_unwritable(box: Sandbox) -> None:
    # The cache folder replaced by a file: every write there fails (this also bites root, unlike chmod).
    for child in box.cache.iterdir():
        if child.is_dir():
            import shutil

            shutil.rmtree(child)
    box.cache.rmdir()
    box.cache.write_text("not a folder")


def user_rules_not_utf8(box: Sandbox) -> None:
    folder = box.config / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mine.toml").write_bytes('[[rule]]\nid = "caf\xe9"\n'.encode("latin-1"))


def user_rules_dev_zero(box: Sandbox) -> None:
    folder = box.config / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zero.toml").symlink_to("/dev/zero")


# (what, how to break it, the command, the exit statuses it may answer with)
CHECK_ROWS: list[tuple[str, Callable[[Sandbox], None], tuple[int, ...]]] = [
    ("metadata cache refs.json truncated", truncate_refs, VERDICTS),
    ("metadata cache entry of the wrong shape", wrong_shape_metadata, VERDICTS),
    ("parsed-data cache is garbage", garbage_data_cache, VERDICTS),
    ("cache folder is a file", cache_folder_unwritable, VERDICTS),
    ("user rules file not UTF-8", user_rules_not_utf8, VERDICTS),
    ("user rules file is /dev/zero", user_rules_dev_zero, VERDICTS),
]


@pytest.mark.parametrize("row", CHECK_ROWS, ids=[r[0].replace(" ", "-") for r in CHECK_ROWS])
def test_check_survives_damaged_state(sandbox: Sandbox,
                                      row: tuple[str, Callable[[Sandbox], None], tuple[int, ...]]) -> None:
    what, damage, codes = row
    _warm(sandbox)
    damage(sandbox)
    outcome = sandbox.run("check", MODEL, "--hardware", "gb10")
    judge(outcome, area="state", command="check MODEL", fault=what, codes=codes, sentence=False)


def _settings(text: bytes) -> Callable[[Sandbox], None]:
    def write(box: Sandbox) -> None:
        (box.config / "config.toml").write_bytes(text)

    return write


def _settings_is_a_folder(box: Sandbox) -> None:
    (box.config / "config.toml").mkdir()


def _state_is_a_file(box: Sandbox) -> None:
    box.state.rmdir()
    box.state.write_text("not a folder")


def _record(text: str) -> Callable[[Sandbox], None]:
    def write(box: Sandbox) -> None:
        (box.state / "servers").mkdir(parents=True, exist_ok=True)
        (box.state / "servers" / "broken.json").write_text(text)

    return write


RECORD = {"name": "broken", "model": "m/m", "engine": "vllm", "argv": ["vllm", "serve", "m/m"], "env": {},
          "pid": 2**22 + 12345, "port": 8123, "host": "127.0.0.1", "log": "", "started_at": 1.0, "version": 1}

# (what, how to break it, the command, the exit statuses, a word the answer must contain)
OTHER_ROWS: list[tuple[str, Callable[[Sandbox], None], tuple[str, ...], tuple[int, ...], str | None]] = [
    ("settings file is not TOML", _settings(b"[serve\nruntime = "), ("serve", MODEL, "--dry-run"), (3,),
     "config.toml"),
    ("settings file not UTF-8", _settings("[serve]\nimage = 'caf\xe9'\n".encode("latin-1")),
     ("serve", MODEL, "--dry-run"), (3,), "config.toml"),
    ("settings file is a folder", _settings_is_a_folder, ("serve", MODEL, "--dry-run"), (3,), "config.toml"),
    ("state folder is a file", _state_is_a_file, ("ps",), (3,), None),
    ("server record truncated", _record(json.dumps(RECORD)[:40]), ("ps", "--json"), (0,), "damaged"),
    ("server record pid 'abc'", _record(json.dumps({**RECORD, "pid": "abc"})), ("ps", "--json"), (0,),
     "damaged"),
    ("server record is a JSON list", _record("[1, 2]"), ("ps",), (0,), "damaged"),
    ("server record pid 'abc', stop it", _record(json.dumps({**RECORD, "pid": "abc"})), ("stop", "broken"),
     (0, 3), None),
    ("user rules not UTF-8, lint", user_rules_not_utf8, ("rules", "lint", "RULES"), (1,), "mine.toml"),
    ("user rules /dev/zero, lint", user_rules_dev_zero, ("rules", "lint", "RULES"), (1,), "zero.toml"),
]


@pytest.mark.parametrize("row", OTHER_ROWS, ids=[r[0].replace(" ", "-").replace("'", "") for r in OTHER_ROWS])
def test_commands_survive_damaged_state(sandbox: Sandbox, row: tuple) -> None:
    what, damage, argv, codes, word = row
    damage(sandbox)
    argv = tuple(str(sandbox.config / "rules") if a == "RULES" else a for a in argv)
    outcome = sandbox.run(*argv)
    judge(outcome, area="state", command=" ".join(a if "/" not in a or a == MODEL else a.rsplit("/", 1)[-1]
                                                  for a in argv), fault=what, codes=codes, contains=word,
          sentence=3 in codes and 0 not in codes and argv[0] != "rules")  # lint's output is file:line lines
    # Nothing is lost: a damaged record is still there for the user (or its server was stopped on purpose).
    record = sandbox.state / "servers" / "broken.json"
    if "record" in what and argv[0] == "ps":
        assert record.exists() or any((sandbox.state / "servers").glob("broken*")), "the damaged record vanished"


def test_no_stray_files_in_the_working_folder(sandbox: Sandbox) -> None:
    _warm(sandbox)
    assert not os.listdir(sandbox.cwd)
