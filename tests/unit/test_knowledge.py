"""Which rules set is active: the pointer file is believed only when whole and sane; the built-in set is the floor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spark_tui.rules import active_rule_paths, builtin_rule_paths
from spark_tui.rules.knowledge import active_knowledge, builtin_knowledge, read_manifest, stale_for

SET_ID = "2026-12-20-0123456789abcdef"


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SPARK_TUI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("SPARK_TUI_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "config" / "rules-sets"
    (folder / SET_ID / "known-issues").mkdir(parents=True)
    return folder


def point(store: Path, active: object) -> None:
    (store / "active.json").write_text(json.dumps({"active": active, "previous": []}))


def test_builtin_set_has_its_as_of_and_source(store):
    builtin = builtin_knowledge()
    assert (builtin.as_of, builtin.source, builtin.label) == ("2026-12-02", "builtin", "knowledge 2026-12-02 (builtin)")
    assert active_knowledge() == builtin and active_rule_paths() == builtin_rule_paths()


def test_an_installed_set_is_active_with_its_own_paths(store):
    point(store, {"id": SET_ID, "as_of": "2026-12-20", "source": "hf:o/n@" + "a" * 40})
    active = active_knowledge()
    assert active.label == f"knowledge 2026-12-20 (hf:o/n@{'a' * 40})"
    assert active.short_label == f"knowledge 2026-12-20 (hf:o/n@{'a' * 12})"
    assert active_rule_paths() == [store / SET_ID / "known-issues"]
    assert active.engines_file == builtin_knowledge().engines_file  # the set has none of its own
    (store / SET_ID / "engines.toml").write_text("")
    assert active.engines_file == store / SET_ID / "engines.toml"


@pytest.mark.parametrize("pointer", [
    "{not json", "[]", '{"active": {"id": "../../etc", "as_of": "2026-12-20", "source": "x"}}',
    '{"active": {"id": "2026-12-20-0123456789abcdef", "as_of": "20-12-2026", "source": "x"}}',
    '{"active": {"id": "2026-12-20-0123456789abcdef", "as_of": "2026-12-20", "source": ""}}',
    '{"active": {"id": "2026-12-21-0123456789abcdef", "as_of": "2026-12-21", "source": "x"}}',  # no such folder
    '{"active": {"id": "2026-12-20-0123456789abcdef", "as_of": "2026-01-01", "source": "x"}}',  # older than built-in
], ids=["damaged", "wrong-shape", "traversal", "bad-date", "no-source", "missing-folder", "older-than-builtin"])
def test_anything_but_a_sane_pointer_to_a_present_newer_set_means_the_builtin_set(store, pointer):
    (store / "active.json").write_text(pointer)
    assert active_knowledge().source == "builtin"


def test_manifest_needs_a_real_date_and_nothing_unknown(tmp_path):
    path = tmp_path / "knowledge.toml"
    for text, words in [('as_of = "2026-13-01"', "YYYY-MM-DD"), ("as_of = 2026-12-01", "YYYY-MM-DD"),
                        ('as_of = "2026-12-01"\nnewest = 1', "only as_of"), ("as_of = ", "TOML syntax error")]:
        path.write_text(text)
        with pytest.raises(ValueError, match=words):
            read_manifest(path)
    path.write_text('as_of = "2026-12-01"\nnote = "fine"\n')
    assert read_manifest(path) == "2026-12-01"


@pytest.mark.parametrize(("engine", "version", "stale"), [
    ("vllm", "0.33.1", True), ("vllm", "0.33.0", False), ("vllm", "0.33.0rc1", False), ("vllm", "0.34.0rc1", True),
    ("vllm", None, False), ("vllm", "not-a-version", False), ("trtllm", "1.3.0", True), ("llamacpp", "6918", False),
    ("sglang", "9.9", False),
])
def test_stale_only_when_the_advised_version_is_newer_than_newest_known(engine, version, stale):
    newest = {"vllm": "0.33.0", "trtllm": "1.3.0rc15", "llamacpp": "6918"}
    assert stale_for(engine, version, newest) is stale
