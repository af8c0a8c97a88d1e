"""`spark-tui rules update` / `rollback`: a rules set from an emulated Hub repo or a folder is activated only when it
passes lint and its cases and is not older; activation is atomic; `check` and `rules` say which knowledge they used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
RULES = ROOT / "rules"
# The shipped set's newest releases, read from the file itself (tests must not pin a moving number).
BUILTIN_NEWEST = {name: table["newest_known"] for name, table in
                  tomllib.loads((RULES / "engines.toml").read_text()).items()}
MODEL = ("RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10")

# A rule of the update's own, so its findings show the update is the set in use. It fires for every vLLM check.
MARKER = '''
[[rule]]
id = "update-marker"
title = "Advice from the updated rules set"
severity = "info"
detail = "d"
fix = "f"
references = []
[rule.when]
engine = "vllm"
[[rule.cases]]
fires = true
[rule.cases.facts]
engine = "vllm"
[[rule.cases]]
fires = false
[rule.cases.facts]
engine = "trtllm"
'''


def set_files(as_of: str, newest_vllm: str = "0.35.0", extra: str = MARKER) -> dict[str, bytes]:
    """A whole rules set: the built-in known issues, a marker rule, engines.toml and the manifest."""
    files = {f"known-issues/{p.name}": p.read_bytes() for p in sorted((RULES / "known-issues").glob("*.toml"))}
    files["known-issues/update.toml"] = extra.encode()
    engines = (RULES / "engines.toml").read_text()
    files["engines.toml"] = engines.replace(f'newest_known = "{BUILTIN_NEWEST["vllm"]}"',
                                            f'newest_known = "{newest_vllm}"').encode()
    files["knowledge.toml"] = f'as_of = "{as_of}"\nnote = "test set"\n'.encode()
    return files


def write_set(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def knowledge(cli) -> dict:
    r = cli("check", *MODEL, "--json", "--engine-version", "0.30.0")
    assert r.code in (0, 1), r.err
    return json.loads(r.out)["knowledge"]


def update(cli, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict, str]:
    r = cli("rules", "update", *args, "--json", env=env)
    return r.code, json.loads(r.out), r.err


def test_update_from_a_folder_replaces_the_builtin_set_and_check_says_so(cli, tmp_path):
    before = knowledge(cli)  # also warms the rules cache: the update must not be hidden by it
    assert before["source"] == "builtin" and before["as_of"] == "2026-12-02"
    assert before["newest_known"] == BUILTIN_NEWEST
    folder = write_set(tmp_path / "set", set_files("2026-12-20"))
    (folder / "known-issues" / "memory.toml").unlink()  # the set replaces the built-in rules, not adds to them
    code, out, _ = update(cli, "--source", str(folder))
    assert code == 0 and out["ok"] is True and out["error"] is None
    assert out["as_of"] == "2026-12-20" and out["source"] == str(folder.resolve()) and out["rules"] > 10
    after = knowledge(cli)
    assert after == {"as_of": "2026-12-20", "source": str(folder.resolve()),
                     "newest_known": {**BUILTIN_NEWEST, "vllm": "0.35.0"},
                     "stale_for_engine": False}
    data = json.loads(cli("check", *MODEL, "--json").out)
    assert data["engine"]["version"] == "0.35.0"  # "assumed: newest known" follows the set's engines.toml
    assert "update-marker" in [f["rule"] for f in data["findings"]]
    listing = cli("rules")
    assert "update-marker" in listing.out and "memory-weights-do-not-fit" not in listing.out
    linted = cli("rules", "lint")  # without PATH, lint checks the rules check uses: the installed set
    assert linted.code == 0 and f"OK: {out['rules']} rules" in linted.out, linted.out + linted.err
    assert f"knowledge 2026-12-20 ({folder.resolve()})" in listing.out
    (folder / "known-issues" / "update.toml").unlink()  # the source changing later changes nothing: it was copied
    assert "update-marker" in cli("rules").out


def test_update_from_an_emulated_hub_repo_and_the_default_source_setting(cli, hub, tmp_path):
    repo = hub.add_repo("spark-tui-test/rules", set_files("2026-12-21"))
    code, out, err = update(cli, "--source", "hf:spark-tui-test/rules")
    assert code == 0, err
    assert out["source"] == f"hf:spark-tui-test/rules@{repo.sha}" and out["as_of"] == "2026-12-21"
    assert knowledge(cli)["source"] == f"hf:spark-tui-test/rules@{repo.sha}"
    # The default source is a setting: config.toml's [rules] source, and SPARK_TUI_RULES_SOURCE over it.
    hub.add_repo("spark-tui-test/rules-next", set_files("2026-12-22"))
    config = Path(os.environ["SPARK_TUI_CONFIG_DIR"])
    (config / "config.toml").write_text('[rules]\nsource = "hf:spark-tui-test/rules-next"\n')
    code, out, _ = update(cli)
    assert code == 0 and out["as_of"] == "2026-12-22"
    folder = write_set(tmp_path / "set", set_files("2026-12-23"))
    code, out, _ = update(cli, env={"SPARK_TUI_RULES_SOURCE": str(folder)})
    assert code == 0 and out["as_of"] == "2026-12-23"


def test_no_source_anywhere_is_one_sentence(cli):
    r = cli("rules", "update")
    assert r.code == 3 and r.err.startswith("spark-tui: No rules source") and "Traceback" not in r.err


BROKEN = {
    "a lint problem": (MARKER.replace('severity = "info"', 'severity = "informational"'),
                       "known-issues/update.toml:5: severity: must be one of"),
    "a failing case": (MARKER.replace('engine = "trtllm"', 'engine = "vllm"'),
                       "known-issues/update.toml:15: cases: update-marker case 2 should not fire"),
    "a TOML error": (MARKER + "\n[[rule]\n", "known-issues/update.toml:20: TOML syntax error"),
}


@pytest.mark.parametrize("kind", BROKEN, ids=list(BROKEN))
def test_a_broken_set_is_refused_and_the_active_set_is_unchanged(cli, tmp_path, kind):
    extra, problem = BROKEN[kind]
    folder = write_set(tmp_path / "set", set_files("2026-12-20", extra=extra))
    code, out, _ = update(cli, "--source", str(folder))
    assert code == 1 and out["ok"] is False and problem in out["error"], out
    r = cli("rules", "update", "--source", str(folder))
    assert r.code == 1 and r.err.count("\n") == 1 and problem in r.err and "Traceback" not in r.err
    assert knowledge(cli)["source"] == "builtin"
    store = Path(os.environ["SPARK_TUI_CONFIG_DIR"]) / "rules-sets"
    assert sorted(p.name for p in store.iterdir()) == [".lock"]  # no staging copy left behind


def test_a_set_without_a_manifest_or_with_a_bad_engines_file_is_refused(cli, tmp_path):
    files = set_files("2026-12-20")
    no_manifest = write_set(tmp_path / "a", {k: v for k, v in files.items() if k != "knowledge.toml"})
    code, out, _ = update(cli, "--source", str(no_manifest))
    assert code == 1 and "knowledge.toml" in out["error"]
    files["engines.toml"] = b'[vllm]\ntitle = "vLLM"\nnewest_known = "0.33.0"\n'
    code, out, _ = update(cli, "--source", str(write_set(tmp_path / "b", files)))
    assert code == 1 and "engines.toml: no [llamacpp] table" in out["error"]
    assert knowledge(cli)["source"] == "builtin"


def test_an_older_set_is_refused_unless_forced_and_the_same_set_is_nothing_to_update(cli, tmp_path):
    newer = write_set(tmp_path / "newer", set_files("2026-12-20"))
    older = write_set(tmp_path / "older", set_files("2026-12-10", newest_vllm="0.30.0"))
    assert update(cli, "--source", str(newer))[0] == 0
    code, out, _ = update(cli, "--source", str(older))
    assert code == 1 and "older than the active set" in out["error"] and out["as_of"] == "2026-12-10"
    assert knowledge(cli)["as_of"] == "2026-12-20"
    code, out, _ = update(cli, "--source", str(newer))
    assert code == 1 and out["error"].startswith("Nothing to update")
    code, out, _ = update(cli, "--source", str(older), "--force")
    assert code == 0 and knowledge(cli)["as_of"] == "2026-12-10"
    # The built-in set itself, as a folder: nothing newer than what is shipped, refused as older now...
    builtin = write_set(tmp_path / "builtin", {"knowledge.toml": (RULES / "knowledge.toml").read_bytes(),
                                               "engines.toml": (RULES / "engines.toml").read_bytes(),
                                               **{f"known-issues/{p.name}": p.read_bytes()
                                                  for p in (RULES / "known-issues").glob("*.toml")}})
    assert update(cli, "--source", str(builtin))[0] == 1


def test_the_builtin_set_as_an_update_is_nothing_to_update(cli, tmp_path):
    folder = tmp_path / "builtin"
    folder.mkdir()
    for name in ("knowledge.toml", "engines.toml"):
        (folder / name).write_bytes((RULES / name).read_bytes())
    write_set(folder, {f"known-issues/{p.name}": p.read_bytes() for p in (RULES / "known-issues").glob("*.toml")})
    code, out, _ = update(cli, "--source", str(folder), "--force")
    assert code == 1 and out["error"].startswith("Nothing to update")


def test_rollback_returns_to_the_previous_set_and_the_builtin_set_is_the_floor(cli, tmp_path):
    r = cli("rules", "rollback")
    assert r.code == 1 and "Nothing to roll back to" in r.err
    first = write_set(tmp_path / "first", set_files("2026-12-20"))
    second = write_set(tmp_path / "second", set_files("2026-12-21"))
    assert update(cli, "--source", str(first))[0] == 0
    assert update(cli, "--source", str(second))[0] == 0
    r = cli("rules", "rollback", "--json")
    assert r.code == 0 and json.loads(r.out)["source"] == str(first.resolve())
    assert knowledge(cli)["as_of"] == "2026-12-20"
    r = cli("rules", "rollback")
    assert r.code == 0 and "Rolled back to knowledge 2026-12-02 (builtin)" in r.out
    assert "update-marker" not in cli("rules").out
    r = cli("rules", "rollback", "--json")
    assert r.code == 1 and json.loads(r.out)["ok"] is False


KILL = """
import os, signal, sys
from spark_tui.rules import update
where = sys.argv[1]
if where == "copy":
    real_write, written = update._write_file, []
    def write_then_die(target, data):
        real_write(target, data)
        written.append(target)
        if len(written) == 3:  # midway through copying the set
            os.kill(os.getpid(), signal.SIGKILL)
    update._write_file = write_then_die
else:
    real_replace = os.replace
    def die_before_pointer(src, dst):
        if str(dst).endswith("active.json"):  # the new set is in place, the pointer not yet swapped
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)
    update.os.replace = die_before_pointer
from spark_tui.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("where", ["copy", "pointer"])
def test_an_update_killed_midway_leaves_the_previous_set_active(cli, hub, tmp_path, where):
    first = write_set(tmp_path / "first", set_files("2026-12-20"))
    second = write_set(tmp_path / "second", set_files("2026-12-21", newest_vllm="0.34.0"))
    assert update(cli, "--source", str(first))[0] == 0
    killed = subprocess.run([sys.executable, "-c", KILL, where, "rules", "update", "--source", str(second)],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert killed.returncode == -9, killed.stderr
    assert knowledge(cli)["as_of"] == "2026-12-20"
    assert "update-marker" in cli("rules").out
    code, out, _ = update(cli, "--source", str(second))  # and the next update cleans up after it
    assert code == 0 and out["as_of"] == "2026-12-21"
    store = Path(os.environ["SPARK_TUI_CONFIG_DIR"]) / "rules-sets"
    assert not [p.name for p in store.iterdir() if p.name.startswith(".staging")]


def test_fetch_failures_exit_3_in_one_sentence(cli, hub, tmp_path):
    for source, words in [("hf:spark-tui-test/no-such-rules", "Could not fetch rules from hf:spark-tui-test/no-such"),
                          (str(tmp_path / "missing"), "neither hf:OWNER/NAME"),
                          ("hf:../../etc", "is not a Hugging Face repo"),
                          ("hf:owner/name@../../x", "is not a Hugging Face repo")]:
        r = cli("rules", "update", "--source", source)
        assert r.code == 3 and words in r.err and "Traceback" not in r.err, (source, r.err)
        code, out, _ = update(cli, "--source", source)
        assert code == 3 and out["ok"] is False and words in out["error"]
    hub.fail("/api/models/spark-tui-test/", 500, times=None)
    hub.add_repo("spark-tui-test/down", set_files("2026-12-20"))
    r = cli("rules", "update", "--source", "hf:spark-tui-test/down")
    assert r.code == 3 and "Could not fetch rules" in r.err
    assert knowledge(cli)["source"] == "builtin"


def test_offline_mode_updates_from_the_hf_cache_only(cli, hub):
    hub.add_repo("spark-tui-test/offline", set_files("2026-12-20"))
    r = cli("rules", "update", "--source", "hf:spark-tui-test/offline", env={"HF_HUB_OFFLINE": "1"})
    assert r.code == 3 and "Offline mode is on" in r.err
    assert update(cli, "--source", "hf:spark-tui-test/offline")[0] == 0
    assert cli("rules", "rollback").code == 0
    code, out, _ = update(cli, "--source", "hf:spark-tui-test/offline", env={"HF_HUB_OFFLINE": "1"})
    assert code == 0 and out["as_of"] == "2026-12-20"


def test_check_flags_advice_for_an_engine_newer_than_the_rules_know(cli):
    data = json.loads(cli("check", *MODEL, "--json", "--engine-version", "0.99.0").out)
    assert data["knowledge"]["stale_for_engine"] is True
    stale = [f for f in data["findings"] if f["rule"] == "knowledge-stale"]
    assert len(stale) == 1 and "spark-tui rules update" in stale[0]["title"]
    assert BUILTIN_NEWEST["vllm"] in stale[0]["title"]
    data = json.loads(cli("check", *MODEL, "--json", "--engine-version", BUILTIN_NEWEST["vllm"]).out)
    assert data["knowledge"]["stale_for_engine"] is False
    assert "knowledge-stale" not in [f["rule"] for f in data["findings"]]
    text = cli("check", *MODEL, "--engine-version", "0.99.0").out
    assert "Rules    knowledge 2026-12-02 (builtin)" in text and "Advice may be stale for vllm 0.99.0" in text
