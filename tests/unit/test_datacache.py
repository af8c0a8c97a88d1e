"""The pickled data cache: built once, rebuilt when any input file changes, never trusted when damaged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spark_tui.datacache import cached


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SPARK_TUI_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "data"


def counting_build(calls: list[int], value: object):
    def build() -> object:
        calls.append(1)
        return value
    return build


def test_built_once_then_read_back(tmp_path: Path, cache: Path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.toml").write_text("x = 1\n")
    calls: list[int] = []
    assert cached("t", [rules], counting_build(calls, {"v": 1}), dict) == {"v": 1}
    assert cached("t", [rules], counting_build(calls, {"v": 2}), dict) == {"v": 1}
    assert len(calls) == 1 and len(list(cache.glob("t-*.pickle"))) == 1


@pytest.mark.parametrize("change", ["edit", "new-file", "new-file-in-subfolder", "touch"])
def test_any_change_to_an_input_rebuilds(tmp_path: Path, cache: Path, change: str):
    rules = tmp_path / "rules"
    rules.mkdir()
    first = rules / "a.toml"
    first.write_text("x = 1\n")
    calls: list[int] = []
    cached("t", [rules], counting_build(calls, ["old"]), list)
    if change == "edit":
        first.write_text("x = 22\n")
    elif change == "new-file":
        (rules / "b.toml").write_text("")
    elif change == "new-file-in-subfolder":
        (rules / "more").mkdir()
        (rules / "more" / "c.toml").write_text("")
    else:
        stat = first.stat()
        os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert cached("t", [rules], counting_build(calls, ["new"]), list) == ["new"]
    assert len(calls) == 2


def test_files_that_are_not_toml_in_a_folder_do_not_matter(tmp_path: Path, cache: Path):
    rules = tmp_path / "rules"
    rules.mkdir()
    calls: list[int] = []
    cached("t", [rules], counting_build(calls, 1), int)
    (rules / "notes.txt").write_text("hello")
    cached("t", [rules], counting_build(calls, 1), int)
    assert len(calls) == 1


def test_a_missing_input_builds_every_time_and_caches_nothing(tmp_path: Path, cache: Path):
    calls: list[int] = []
    for _ in range(2):
        cached("t", [tmp_path / "absent.toml"], counting_build(calls, 1), int)
    assert len(calls) == 2 and not cache.exists()


@pytest.mark.parametrize("damage", [b"", b"not a pickle", b"\x80\x04K\x05."])  # the last: a pickled int
def test_a_damaged_or_foreign_entry_is_rebuilt(tmp_path: Path, cache: Path, damage: bytes):
    source = tmp_path / "a.toml"
    source.write_text("")
    calls: list[int] = []
    cached("t", [source], counting_build(calls, {"ok": True}), dict)
    (entry,) = cache.glob("t-*.pickle")
    entry.write_bytes(damage)
    assert cached("t", [source], counting_build(calls, {"ok": True}), dict) == {"ok": True}
    assert len(calls) == 2
