"""What a pull accepts from the Hub before it becomes a path, and how a transfer stops: the checks themselves, a
disk that fills at the very end of a pull, and a pause from the app on a slow link."""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path

import pytest

from spark_tui.downloads.safe_paths import check_commit, check_etag, check_filename, inside, is_safe_relative
from spark_tui.errors import HubAnswerError, SparkTuiError
from tests.support.small_model import small_model_files

REPO = "spark-test/Small-Model"
SHARD = "model-00001-of-00002.safetensors"


@pytest.mark.parametrize("name", ["config.json", "original/params.json", "a/b/c.safetensors", "weird name (1).txt",
                                  "x..y.json", ".gitattributes"])
def test_ordinary_repo_file_names_are_accepted(name):
    assert is_safe_relative(name) and check_filename(name, REPO) == name


@pytest.mark.parametrize("name", ["", "..", "../x", "a/../../x", "/etc/passwd", "a//b", "./x", "a/./b", "a\\..\\b",
                                  "x\x00y", "x\ny", "a/", 5, None, "x" * 2000])
def test_names_that_could_leave_their_folder_are_refused(name):
    assert not is_safe_relative(name)
    with pytest.raises(HubAnswerError) as err:
        check_filename(name, REPO)
    assert "unsafe file name" in err.value.message and "\x00" not in err.value.message


def test_commits_and_etags_have_the_hubs_forms():
    assert check_commit("a" * 40, REPO) == "a" * 40
    assert check_etag("0" * 64, "x") == "0" * 64 and check_etag("f" * 40, "x") == "f" * 40
    for bad in ("main", "A" * 40, "a" * 39, "../" + "a" * 37, "", None, 7, "a" * 40 + "\n"):
        with pytest.raises(HubAnswerError):
            check_commit(bad, REPO)
    for bad in ("../../x", "abc", "W/" + "a" * 40, "a" * 63, "g" * 64, None):
        with pytest.raises(HubAnswerError):
            check_etag(bad, "x")


def test_a_path_through_a_link_out_of_the_cache_is_refused(tmp_path):
    cache, elsewhere = tmp_path / "cache", tmp_path / "elsewhere"
    cache.mkdir()
    elsewhere.mkdir()
    (cache / "snapshots").symlink_to(elsewhere)  # planted inside the cache, pointing out of it
    with pytest.raises(HubAnswerError):
        inside(cache, "snapshots/x")
    assert inside(cache, "blobs/x") == cache.resolve() / "blobs" / "x"
    (cache / "link").symlink_to(elsewhere / "file")
    assert inside(cache, "link", follow_last=False) == cache.resolve() / "link"  # replaced, not followed
    with pytest.raises(HubAnswerError):
        inside(cache, "link")  # followed: it leads out


def test_a_disk_that_fills_while_the_ref_is_written_is_one_sentence(hub, monkeypatch):
    from spark_tui.downloads.plan import make_plan
    from spark_tui.downloads.transfer import TransferProgress, pull

    # huggingface_hub reads HF_HOME once per process: a repo of its own keeps this test's files its own.
    hub.add_repo("spark-test/Full-Disk", small_model_files(1))
    plan = make_plan("spark-test/Full-Disk")

    def full(path: Path, text: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("spark_tui.files.write_text_atomic", full)
    with pytest.raises(SparkTuiError) as err:
        pull(plan, TransferProgress(plan))
    assert err.value.message.startswith("Cannot write the download: No space left on device")
    assert "resumes" in (err.value.hint or "")


def test_pausing_from_the_app_on_a_slow_link_is_quick_and_the_rate_is_real(hub):
    from spark_tui.downloads.plan import make_plan, partial_path
    from spark_tui.downloads.transfer import pull
    from spark_tui.tui.download_state import DownloadManager

    model = "spark-test/Slow-Link"  # a repo of its own: the HF cache is per process, not per test
    repo = hub.add_repo(model, small_model_files(24))
    hub.throttle(SHARD, bytes_per_s=512 * 1024)  # a 10 MiB read would take 20 s
    manager = DownloadManager(lambda model: make_plan(model), pull)
    job = manager.start(model)
    deadline = time.monotonic() + 30
    snap = None
    while time.monotonic() < deadline:
        snap = job.snapshot()
        shard = next((f for f in snap.files if f.path == SHARD), None) if snap else None
        if shard is not None and shard.done > 512 * 1024 and snap.rate_bps > 0:
            break
        time.sleep(0.1)
    assert snap is not None and snap.rate_bps > 0, snap
    paused_at = time.monotonic()
    manager.pause(model)
    while job.state in ("downloading", "pausing…") and time.monotonic() - paused_at < 30:
        time.sleep(0.05)
    took = time.monotonic() - paused_at
    assert job.state == "paused" and took < 2.5, (job.state, took)
    assert job.plan is not None
    part = partial_path(Path(job.plan.cache_dir), model, job.plan.commit, SHARD)
    shard_state = next(f for f in job.snapshot().files if f.path == SHARD)
    assert part.stat().st_size == shard_state.done > 512 * 1024  # every byte counted is on disk
    assert part.read_bytes() == repo.files[SHARD][:shard_state.done]
    assert all(not t.is_alive() for t in threading.enumerate() if t.name == f"pull {model}")
