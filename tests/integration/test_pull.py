"""`spark-tui pull` and `spark-tui cache` for real: the real huggingface_hub client against the Hub emulator,
small real safetensors files, real interruptions (a dropped connection, Ctrl-C), the real disk check."""

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

from tests.support.small_model import small_model_files

REPO = "spark-test/Small-Model"
SHARD = "model-00001-of-00002.safetensors"
WANTED = {"config.json", "generation_config.json", "tokenizer.json", "model-00001-of-00002.safetensors",
          "model-00002-of-00002.safetensors", "model.safetensors.index.json"}


@pytest.fixture
def small(hub):
    repo = hub.add_repo(REPO, small_model_files())
    return repo


def events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def offline_files(repo_id: str) -> dict[str, bytes]:
    """Read the pulled repo back with huggingface_hub itself, offline, in a fresh process."""
    code = ("import json,os,sys; from huggingface_hub import snapshot_download; p=snapshot_download(sys.argv[1]);"
            "print(json.dumps({f: os.path.join(p, f) for f in sorted(os.listdir(p)) if f != 'original'}))")
    proc = subprocess.run([sys.executable, "-c", code, repo_id], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return {name: Path(path).read_bytes() for name, path in json.loads(proc.stdout).items()}


def test_pull_plans_skips_duplicates_shows_progress_and_lands_in_the_hf_cache(cli, small):
    r = cli("pull", REPO, "--json")
    assert r.code == 0, r.err
    got = events(r.out)
    plan, done = got[0], got[-1]
    assert plan["event"] == "plan" and {f["path"] for f in plan["files"]} == WANTED
    assert {s["path"] for s in plan["skipped"]} == {"pytorch_model.bin", "original/consolidated.00.pth"}
    assert plan["bytes_skipped"] == 3 * 1024 * 1024
    assert plan["bytes_to_fetch"] == plan["bytes_total"] > 6 * 1024 * 1024 and plan["bytes_cached"] == 0
    assert plan["free_bytes"] > plan["bytes_to_fetch"]
    progress = [e for e in got if e["event"] == "progress"]
    assert progress and progress[-1]["bytes_done"] == progress[-1]["bytes_total"] == plan["bytes_total"]
    assert done["event"] == "done" and done["model"] == REPO and done["bytes"] == plan["bytes_total"]
    assert done["revision"] == small.sha and Path(done["path"]).is_dir()
    assert offline_files(REPO) == {name: small.files[name] for name in WANTED}
    # A second pull fetches nothing.
    again = events(cli("pull", REPO, "--json").out)
    assert again[0]["bytes_to_fetch"] == 0 and again[0]["bytes_cached"] == plan["bytes_total"]


@pytest.fixture
def bigger(hub):
    """Shards larger than huggingface_hub's 10 MB read chunk, so a cut can land after whole chunks arrived."""
    return hub.add_repo(REPO, small_model_files(shard_mib=24))


def resumed_from(hub, name: str) -> list[int]:
    return [int(rng.split("=")[1].rstrip("-")) for path, rng in hub.ranges if path.endswith(name)]


def test_a_dropped_connection_resumes_to_identical_bytes(cli, hub, bigger):
    hub.cut(SHARD, after_bytes=12 * 1024 * 1024)
    r = cli("pull", REPO, "--json", timeout=120)
    assert r.code == 0, r.err
    starts = resumed_from(hub, SHARD)
    assert starts and 0 < starts[0] <= 12 * 1024 * 1024, hub.ranges  # resumed mid-file, not started over
    assert offline_files(REPO)[SHARD] == bigger.files[SHARD]


def test_ctrl_c_keeps_the_partial_file_and_the_next_pull_resumes_it(cli, hub, bigger, tmp_path):
    small = bigger
    hub.throttle(SHARD, bytes_per_s=8 * 1024 * 1024)
    proc = subprocess.Popen([sys.executable, "-m", "spark_tui", "pull", REPO], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    part_dir = tmp_path / "hf" / "hub" / ".spark-tui-partial"
    deadline = time.monotonic() + 30
    part = None
    while time.monotonic() < deadline:
        parts = list(part_dir.rglob(f"{SHARD}.part"))
        if parts and parts[0].stat().st_size > 0:
            part = parts[0]
            break
        time.sleep(0.05)
    assert part is not None, proc.stderr.read() if proc.poll() is not None else "no partial file"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Stopped;" in err and "Run the same command to resume." in err and "Traceback" not in err
    kept = part.stat().st_size
    assert 0 < kept < len(small.files[SHARD])
    snapshot_shard = list((tmp_path / "hf" / "hub").glob(f"models--*/snapshots/*/{SHARD}"))
    assert snapshot_shard == []  # nothing in the cache looks complete
    hub.clear()
    r = cli("pull", REPO, "--json")
    assert r.code == 0, r.err
    plan = events(r.out)[0]
    assert next(f for f in plan["files"] if f["path"] == SHARD)["partial_bytes"] == kept
    assert (f"/{REPO}/resolve/{small.sha}/{SHARD}", f"bytes={kept}-") in hub.ranges
    assert offline_files(REPO)[SHARD] == small.files[SHARD]
    assert not part.exists()


def test_refused_when_the_real_disk_is_too_small(cli, hub):
    # DeepSeek-R1 NVFP4's weights are hundreds of GB: more than this machine's disk has free.
    plan = events(cli("pull", "nvidia/DeepSeek-R1-NVFP4", "--json", "--dry-run").out)[0]
    if plan["bytes_to_fetch"] + plan["margin_bytes"] <= plan["free_bytes"]:
        pytest.skip(f"this disk has {plan['free_bytes'] / 1024**3:.0f} GiB free: the real refusal needs less")
    r = cli("pull", "nvidia/DeepSeek-R1-NVFP4", "--json")
    assert r.code == 1, r.err
    got = events(r.out)
    assert got[0]["event"] == "plan" and got[0]["bytes_to_fetch"] > got[0]["free_bytes"]
    assert got[-1]["event"] == "error" and got[-1]["message"].startswith("Not enough disk space: ")
    assert "Not enough disk space" in r.err and "--force" in r.err
    assert not any(method == "GET" and "/resolve/" in path and path.endswith(".safetensors")
                   for method, path in hub.requests)
    dry = cli("pull", "nvidia/DeepSeek-R1-NVFP4", "--dry-run")
    assert dry.code == 1 and "To fetch" in dry.out


def test_gated_missing_and_bad_revision_are_one_sentence(cli, hub):
    gated = hub.add_repo("spark-test/Gated-Model", small_model_files(1), gated=True)
    assert gated.gated
    r = cli("pull", "spark-test/Gated-Model")
    assert r.code == 3 and "spark-test/Gated-Model is gated and no Hugging Face token is set." in r.err
    assert "Request access at" in r.err and "Traceback" not in r.err
    assert list(Path(os.environ["HF_HOME"]).rglob("*.safetensors")) == []
    r = cli("pull", "spark-test/No-Such-Model")
    assert r.code == 3 and "No model 'spark-test/No-Such-Model'" in r.err
    r = cli("pull", "RedHatAI/Qwen3-8B-NVFP4", "--revision", "v9")
    assert r.code == 3 and "has no revision 'v9'" in r.err
    r = cli("pull", "not a model id")
    assert r.code == 3 and "Traceback" not in r.err


def test_cache_ls_rm_and_prune(cli, small, tmp_path):
    piped = cli("pull", REPO)  # not a terminal: progress as lines, then where it landed
    assert piped.code == 0 and piped.out.splitlines()[0].startswith("pull: ") and "Done: " in piped.out
    listing = json.loads(cli("cache", "ls", "--json").out)
    entry = next(e for e in listing if e["model"] == REPO)
    assert entry["revision"] == small.sha and entry["size_bytes"] >= 6 * 1024 * 1024
    assert entry["verdict"] in ("ok", "caution", "incompatible", "unknown") and Path(entry["path"]).is_dir()
    assert set(entry) >= {"model", "revision", "size_bytes", "path", "last_accessed", "verdict"}
    text = cli("cache")
    assert REPO in text.out and "Disk free:" in text.out
    # Not a terminal and no -y: refuse rather than delete unasked.
    r = cli("cache", "rm", REPO)
    assert r.code == 3 and "Pass -y" in r.err
    # Prune: only what has not been used for 30 days.
    assert "Nothing to prune." in cli("cache", "prune", "--older-than", "30d").out
    blobs = list((tmp_path / "hf" / "hub").glob("models--spark-test--Small-Model/blobs/*"))
    old = time.time() - 40 * 86400
    for blob in blobs:
        os.utime(blob, (old, old))
    dry = cli("cache", "prune", "--older-than", "30d", "--dry-run")
    assert dry.code == 0 and REPO in dry.out and "Would free" in dry.out
    assert json.loads(cli("cache", "ls", "--json").out)  # still there
    r = cli("cache", "rm", REPO, "-y")
    assert r.code == 0 and "freed" in r.out
    assert json.loads(cli("cache", "ls", "--json").out) == []
    r = cli("cache", "rm", REPO, "-y")
    assert r.code == 3 and "is not in the cache" in r.err


def test_files_hash_as_the_hub_says(small):
    assert hashlib.sha256(small.files[SHARD]).hexdigest() == small.etag(SHARD)[0]


def test_cache_rm_of_a_model_with_only_a_stopped_pull(cli, hub, tmp_path):
    part = tmp_path / "hf" / "hub" / ".spark-tui-partial" / "models--spark-test--Stopped" / ("a" * 40) / "m.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 4096)
    assert "Stopped pulls waiting to resume: 4.0 KiB" in cli("cache").out
    r = cli("cache", "rm", "spark-test/Stopped", "-y")
    assert r.code == 0 and "4.0 KiB freed" in r.out, r.err
    assert not part.parent.parent.exists()
