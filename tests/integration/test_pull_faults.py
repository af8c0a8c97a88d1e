"""`spark-tui pull` and `cache rm` under faults: a hostile Hub (names, commits and ETags that are paths), bytes that
do not match their checksum, a slow link stopped mid-file, a full disk, wrong-shaped listings, offline mode.
Each answer is one sentence with its exit status, and nothing is written outside the HF cache."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.hostile_listing import HostileHub
from tests.support.small_model import small_model_files

REPO = "spark-test/Small-Model"
SHARD = "model-00001-of-00002.safetensors"


@pytest.fixture
def hostile(hub, monkeypatch):
    """A Hub that lies, with this test's own caches (the `hub` fixture's), serving the small model."""
    server = HostileHub().start()
    server.add_repo(REPO, small_model_files())
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    yield server
    server.stop()


def events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def everything_under(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under `root` (links not followed) with its size and mtime: what a test compares before/after."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            found[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return found


def outside_hf(tmp_path: Path) -> dict[str, tuple[int, int]]:
    """Everything but the HF cache and spark-tui's own cache and config folders (the `hub` fixture's)."""
    return {p: v for p, v in everything_under(tmp_path).items() if p.split("/")[0] not in ("hf", "cache", "config")}


def links_leaving(root: Path) -> list[str]:
    """Symlinks under `root` whose target resolves outside it."""
    bad = []
    for path in root.rglob("*"):
        if path.is_symlink() and not path.resolve().is_relative_to(root.resolve()):
            bad.append(f"{path} -> {os.readlink(path)}")
    return bad


def one_sentence(err: str) -> bool:
    lines = [line for line in err.splitlines() if line.strip()]
    return "Traceback" not in err and 1 <= len(lines) <= 2 and lines[0].startswith("spark-tui: ")


# --- 1. a hostile Hub's names, commits and ETags never leave the cache -------------------------------------------

def _rename_config(info: dict, new: str) -> dict:
    for sibling in info["siblings"]:
        if sibling["rfilename"] == "config.json":
            sibling["rfilename"] = new
    return info


HOSTILE = {
    "commit that climbs out": dict(info=lambda i: {**i, "sha": "../../../../../escaped"}),
    "commit that is absolute": dict(info=lambda i: {**i, "sha": "/tmp/escaped-commit"}),
    "ETag that climbs out": dict(header=("config.json", "../../../../escaped")),
    "LFS ETag that climbs out": dict(header=(SHARD, "../../../../escaped-blob")),
    "file name that climbs out": dict(info=lambda i: _rename_config(i, "../../../../../escaped.json"), serve=True),
    "absolute file name": dict(info=lambda i: _rename_config(i, "/tmp/escaped.json"), serve=True),
    "file name with a backslash": dict(info=lambda i: _rename_config(i, "..\\..\\escaped.json"), serve=True),
    "file name with a NUL": dict(info=lambda i: _rename_config(i, "config.json\x00.txt"), serve=True),
}


@pytest.mark.parametrize("fault", list(HOSTILE))
def test_a_hostile_hub_cannot_make_pull_write_outside_the_cache(cli, hostile, tmp_path, fault):
    how = HOSTILE[fault]
    if "info" in how:
        hostile.patch_info = how["info"]
    if "header" in how:
        target, etag = how["header"]

        def lie(path: str, key: str, value: str) -> str:
            return f'"{etag}"' if path.endswith(target) and key in ("ETag", "X-Linked-Etag") else value

        hostile.patch_header = lie
    if how.get("serve"):  # the hostile server answers for the hostile name with real bytes
        repo = hostile.repos[REPO]
        repo.files.update({name: repo.files["config.json"] for name in (
            "../../../../../escaped.json", "/tmp/escaped.json", "..\\..\\escaped.json")})
    before = outside_hf(tmp_path)
    r = cli("pull", REPO, "--json")
    assert r.code == 3, (r.out, r.err)
    assert one_sentence(r.err), r.err
    assert "unsafe" in r.err or "not a" in r.err, r.err
    assert outside_hf(tmp_path) == before
    assert links_leaving(tmp_path / "hf") == []
    assert not Path("/tmp/escaped.json").exists() and not Path("/tmp/escaped-commit").exists()


# --- 2. bytes that do not match the Hub's sha256 never enter the cache --------------------------------------------

def test_a_download_that_does_not_match_its_sha256_is_refused_and_not_kept(cli, hostile, tmp_path):
    repo = hostile.repos[REPO]
    genuine = hashlib.sha256(repo.files[SHARD]).hexdigest()
    tampered = bytearray(repo.files[SHARD])
    tampered[-1] ^= 0xFF
    repo.files[SHARD] = bytes(tampered)  # same length: only the checksum tells

    def genuine_etag(path: str, key: str, value: str) -> str:
        return f'"{genuine}"' if path.endswith(SHARD) and key in ("ETag", "X-Linked-Etag") else value

    hostile.patch_header = genuine_etag
    r = cli("pull", REPO)
    assert r.code == 3 and one_sentence(r.err), r.err
    assert f"{SHARD} did not match its checksum" in r.err, r.err
    hf = tmp_path / "hf" / "hub"
    assert list(hf.rglob(f"blobs/{genuine}")) == []
    assert list(hf.glob(f"models--*/snapshots/*/{SHARD}")) == []
    assert list(hf.rglob(f"{SHARD}.part")) == []  # nothing bad kept for a resume to build on
    assert not any(p.read_bytes() == bytes(tampered) for p in hf.rglob("*") if p.is_file())


# --- 3. a slow link: real rate, stop within seconds, keep what arrived ----------------------------------------------

def test_stopping_a_pull_on_a_slow_link_is_quick_and_keeps_what_arrived(cli, hub, tmp_path):
    repo = hub.add_repo(REPO, small_model_files(shard_mib=24))
    hub.throttle(SHARD, bytes_per_s=512 * 1024)  # a 10 MiB chunk would take 20 s
    proc = subprocess.Popen([sys.executable, "-m", "spark_tui", "pull", REPO, "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    part_dir = tmp_path / "hf" / "hub" / ".spark-tui-partial"
    lines: list[dict] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until data flows and the rate says so
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(json.loads(line))
        if lines[-1]["event"] == "progress" and lines[-1]["rate_bps"] > 0 and any(
                p.stat().st_size > 256 * 1024 for p in part_dir.rglob(f"{SHARD}.part")):
            break
    assert lines and lines[-1]["event"] == "progress" and lines[-1]["rate_bps"] > 0, (lines[-3:], proc.poll())
    assert lines[-1]["rate_bps"] < 64 * 1024 * 1024  # the real rate (the rest of the files came fast)
    reported = lines[-1]["bytes_done"]
    stopped_at = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    took = time.monotonic() - stopped_at
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert took < 4, f"stopping took {took:.1f} s"
    part = next(part_dir.rglob(f"{SHARD}.part"))
    kept = part.stat().st_size
    assert 256 * 1024 < kept < len(repo.files[SHARD])
    assert part.read_bytes() == repo.files[SHARD][:kept]  # what arrived, as it arrived
    others = sum(len(repo.files[n]) for n in ("config.json", "generation_config.json", "tokenizer.json",
                                               "model-00002-of-00002.safetensors", "model.safetensors.index.json"))
    assert kept >= reported - others  # nothing counted was dropped
    hub.clear()
    r = cli("pull", REPO, "--json")
    assert r.code == 0, r.err
    assert (f"/{REPO}/resolve/{repo.sha}/{SHARD}", f"bytes={kept}-") in hub.ranges
    shard = next((tmp_path / "hf" / "hub").glob(f"models--*/snapshots/*/{SHARD}"))
    assert shard.read_bytes() == repo.files[SHARD]


# --- 4. cache rm of a path ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../etc", "../..", "/etc", "a/../../b", "owner/name/../../.."])
def test_cache_rm_of_a_path_is_one_sentence_and_deletes_nothing(cli, hub, tmp_path, name):
    sentinel = tmp_path / "hf" / "hub" / ".spark-tui-partial" / "keep.part"
    sentinel.parent.mkdir(parents=True)
    sentinel.write_bytes(b"x" * 10)
    before = everything_under(tmp_path)
    r = cli("cache", "rm", name, "-y")
    assert r.code == 3 and one_sentence(r.err), r.err
    assert "is not a Hugging Face model id" in r.err or "neither a Hugging Face model id" in r.err, r.err
    assert everything_under(tmp_path) == before


# --- 5. a full disk ------------------------------------------------------------------------------------------------

@pytest.fixture
def tiny_disk(tmp_path):
    """An 8 MiB tmpfs as HF_HOME (root only; skipped where mounting is not permitted)."""
    mount_point = tmp_path / "hf"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_is_one_sentence_and_keeps_the_partial_for_resume(cli, hub, tiny_disk):
    repo = hub.add_repo(REPO, small_model_files(shard_mib=6))  # two 6 MiB shards: 12 MiB into 8
    r = cli("pull", REPO, "--force")
    assert r.code == 3 and one_sentence(r.err), r.err
    assert "No space left on device" in r.err and "resume" in r.err, r.err
    parts = list(tiny_disk.rglob("*.part"))
    assert parts and any(p.stat().st_size > 0 for p in parts)
    for part in parts:  # what is kept is what arrived, a resumable prefix
        name = part.name.removesuffix(".part")
        assert repo.files[name][:part.stat().st_size] == part.read_bytes()
    # Only whole, verified files look complete.
    for link in tiny_disk.glob("hub/models--*/snapshots/*/*"):
        assert link.read_bytes() == repo.files[link.name]


# --- 6. wrong-shaped listings ------------------------------------------------------------------------------------

def _sizes_as_strings(info: dict) -> dict:
    for sibling in info["siblings"]:
        sibling["size"] = str(sibling["size"]) + " bytes"
    return info


WRONG_SHAPES = {
    "truncated JSON": dict(raw=(b'{"id": "spark-test/Small-Model", "sha": "ab', "application/json", None)),
    "HTML": dict(raw=(b"<!doctype html><html><body>Sign in</body></html>", "text/html", None)),
    "a JSON list": dict(info=lambda i: [i]),
    "sizes as strings": dict(info=_sizes_as_strings),
    "a short Content-Length": dict(raw=(b'{"id": "spark-test/Small-Model", "sha": "', "application/json", 4096)),
    "no sha": dict(info=lambda i: {k: v for k, v in i.items() if k != "sha"}),
    "siblings not a list": dict(info=lambda i: {**i, "siblings": {"rfilename": "config.json"}}),
}


@pytest.mark.parametrize("shape", list(WRONG_SHAPES))
def test_a_wrong_shaped_listing_is_one_sentence_and_nothing_is_written(cli, hostile, tmp_path, shape):
    how = WRONG_SHAPES[shape]
    hostile.raw_info = how.get("raw")
    hostile.patch_info = how.get("info")
    for args in (("pull", REPO), ("pull", REPO, "--dry-run")):
        r = cli(*args, timeout=60)
        assert r.code == 3 and one_sentence(r.err), (args, r.err)
        assert hostile.url in r.err and "Cannot reach" not in r.err, r.err  # it was reached: it answered wrong
    files = [p for p in (tmp_path / "hf").rglob("*") if p.is_file()]
    assert files == []


# --- 7. offline ----------------------------------------------------------------------------------------------------

def test_offline_dry_run_of_a_cached_model_plans_from_the_cache(cli, hub):
    hub.add_repo(REPO, small_model_files())
    online = events(cli("pull", REPO, "--json").out)
    assert online[-1]["event"] == "done"
    r = cli("pull", REPO, "--dry-run", "--json", env={"HF_HUB_OFFLINE": "1"})
    assert r.code == 0, r.err
    plan = events(r.out)[0]
    assert plan["commit"] == online[0]["commit"] and plan["bytes_to_fetch"] == 0
    assert {f["path"] for f in plan["files"]} == {f["path"] for f in online[0]["files"]}
    assert all(f["cached"] for f in plan["files"]) and plan["bytes_total"] == online[0]["bytes_total"]
    text = cli("pull", REPO, env={"HF_HUB_OFFLINE": "1"})
    assert text.code == 0 and "Done: " in text.out, text.err


def test_offline_pull_of_a_model_not_in_the_cache_says_so(cli, hub):
    r = cli("pull", "spark-test/Never-Pulled", "--dry-run", env={"HF_HUB_OFFLINE": "1"})
    assert r.code == 3 and one_sentence(r.err), r.err
    assert "Offline mode is on and spark-test/Never-Pulled is not in the HF cache" in r.err
    assert hub.requests == []


# --- the plan's Hub call has a total deadline ------------------------------------------------------------------------

def test_pull_of_a_hub_that_never_answers_ends_within_its_deadline(cli, hub, tmp_path):
    hub.add_repo(REPO, small_model_files())
    hub.delay(f"^/api/models/{REPO}", 60)  # accepts the connection, then says nothing
    started = time.monotonic()
    r = cli("pull", REPO, "--dry-run", env={"SPARK_TUI_HUB_TIMEOUT": "2"}, timeout=60)
    took = time.monotonic() - started
    assert r.code == 3 and one_sentence(r.err), r.err
    assert "gave no usable answer within 2 s" in r.err, r.err
    assert took < 15, f"took {took:.0f} s"  # 2 s and a process start, where huggingface_hub's retries took longer
