"""The pure parts of pulling: which files, the disk check (through an injectable free-space figure), progress
rates, prune selection, sizes and ages."""

from __future__ import annotations

import pytest

from spark_tui.downloads.cache_view import CachedRevision, parse_age, parse_size, select_prune
from spark_tui.downloads.plan import GIB, DownloadPlan, PlannedFile, make_plan, page_cache_note, safety_margin
from spark_tui.downloads.select import RepoFile, select_files
from spark_tui.downloads.transfer import TransferProgress
from spark_tui.errors import UsageError


def files(*names: str, size: int = 100) -> list[RepoFile]:
    return [RepoFile(n, size) for n in names]


def kept(result) -> set[str]:
    return {f.path for f in result[0]}


def test_vllm_pull_skips_duplicate_weight_formats_and_says_why():
    repo = files("config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                 "model.safetensors.index.json", "pytorch_model.bin", "original/consolidated.00.pth",
                 "original/params.json", "consolidated.safetensors", "model-Q4_K_M.gguf", "flax_model.msgpack",
                 "onnx/model.onnx", "tokenizer.model")
    keep, skipped = select_files(repo)
    assert {f.path for f in keep} == {"config.json", "model-00001-of-00002.safetensors",
                                      "model-00002-of-00002.safetensors", "model.safetensors.index.json",
                                      "tokenizer.model"}
    reasons = {s.path: s.reason for s in skipped}
    assert reasons["pytorch_model.bin"].startswith("PyTorch pickle")
    assert reasons["original/params.json"].startswith("original/")
    assert reasons["consolidated.safetensors"].startswith("consolidated*")
    assert reasons["model-Q4_K_M.gguf"].startswith("GGUF")
    assert reasons["onnx/model.onnx"].startswith("weights for another framework")


def test_without_safetensors_nothing_is_a_duplicate():
    assert kept(select_files(files("config.json", "pytorch_model.bin"))) == {"config.json", "pytorch_model.bin"}
    # Mistral-only consolidated weights are the weights, not a duplicate.
    assert "consolidated.safetensors" in kept(select_files(files("params.json", "consolidated.safetensors")))


def test_include_exclude_and_everything():
    repo = files("config.json", "a.safetensors", "b.bin", "x-Q4_K_M.gguf", "x-Q8_0.gguf")
    assert kept(select_files(repo, include=["*.gguf"], exclude=["*Q8*"])) == {"x-Q4_K_M.gguf"}
    assert kept(select_files(repo, everything=True)) == {f.path for f in repo}
    assert kept(select_files(repo, exclude=["config.json"])) == {"a.safetensors"}


def test_a_gguf_only_repo_asks_which_variant():
    with pytest.raises(UsageError, match="holds 2 GGUF variants") as err:
        select_files(files("README.md", "x-Q4_K_M.gguf", "x-Q8_0.gguf"))
    assert "--include" in (err.value.hint or "")
    assert kept(select_files(files("x-Q4_K_M.gguf"))) == {"x-Q4_K_M.gguf"}


def test_the_disk_check_uses_the_injected_free_space(hub):
    # 6.3 GB of shards against 2 GiB free: refused; against plenty: fits. No byte is fetched either way.
    small = make_plan("RedHatAI/Qwen3-8B-NVFP4", free=lambda _path: 2 * GIB)
    assert small.free_bytes == 2 * GIB and not small.fits
    assert small.bytes_to_fetch > 6 * 10**9 and small.margin_bytes == safety_margin(small.bytes_to_fetch)
    roomy = make_plan("RedHatAI/Qwen3-8B-NVFP4", free=lambda _path: 10**13)
    assert roomy.fits
    assert not any(method == "GET" and path.endswith(".safetensors") for method, path in hub.requests)


def test_margin_and_page_cache_note():
    assert safety_margin(0) == GIB and safety_margin(500 * GIB) == 10 * GIB
    assert page_cache_note(False, 100 * GIB) is None and page_cache_note(True, 100 * 1024**2) is None
    assert "drop_caches" in (page_cache_note(True, 100 * GIB) or "")


def test_progress_rate_and_eta_from_bytes_as_they_arrive():
    plan = DownloadPlan("m/x", "main", "c" * 40, "/tmp", [PlannedFile("a", 1000, False, 200),
                                                          PlannedFile("b", 500, True)], [], 10**9, GIB)
    now = [100.0]
    progress = TransferProgress(plan, clock=lambda: now[0])
    assert progress.snapshot().bytes_done == 700  # partial + cached count as done
    now[0] = 102.0
    progress.add("a", 400)
    snap = progress.snapshot()
    assert snap.bytes_done == 1100 and snap.rate_bps == pytest.approx(200.0) and snap.eta_s == pytest.approx(2.0)
    assert {f.path: f.state for f in snap.files} == {"a": "downloading", "b": "cached"}
    assert snap.to_json()["event"] == "progress"


def rev(model: str, size: int, accessed: float) -> CachedRevision:
    return CachedRevision(model, "c" * 40, ("main",), size, f"/cache/{model}", accessed, accessed)


def test_prune_by_age_and_by_size_keeps_the_most_recently_used():
    now = 1_000_000.0
    revs = [rev("a/old", 10, now - 40 * 86400), rev("b/mid", 20, now - 10 * 86400), rev("c/new", 30, now - 60)]
    assert [r.model for r in select_prune(revs, older_than_s=30 * 86400, now=now)] == ["a/old"]
    assert [r.model for r in select_prune(revs, keep_bytes=35, now=now)] == ["a/old", "b/mid"]
    assert [r.model for r in select_prune(revs, keep_bytes=60, now=now)] == []


def test_ages_and_sizes():
    assert parse_age("30d") == 30 * 86400 and parse_age("12h") == 43200 and parse_age("2w") == 14 * 86400
    assert parse_size("200G") == 200 * GIB and parse_size("1.5T") == int(1.5 * 1024**4) and parse_size("512") == 512
    assert parse_size("500MiB") == 500 * 1024**2
    for bad in ("soon", "30x", ""):
        with pytest.raises(UsageError):
            parse_age(bad)
    with pytest.raises(UsageError):
        parse_size("big")


def test_any_transfer_failure_becomes_one_sentence():
    from spark_tui.downloads.transfer import _raise_in_words
    from spark_tui.errors import SparkTuiError

    plan = DownloadPlan("m/x", "main", "c" * 40, "/cache", [], [], 10**9, GIB)
    for failure, words in ((OSError(28, "No space left on device", "/cache/blob"), "Cannot write the download: No "
                            "space left on device (/cache/blob)."),
                           (ValueError("The file is too large"), "The download failed: The file is too large")):
        with pytest.raises(SparkTuiError) as err:
            _raise_in_words(failure, plan, 1.0)
        assert err.value.message == words and "resumes" in (err.value.hint or "")


def test_cancelling_a_paused_pull_discards_its_partial_files(tmp_path):
    import time

    from spark_tui.downloads.plan import partial_path
    from spark_tui.downloads.transfer import DownloadCancelled
    from spark_tui.tui.download_state import DownloadManager

    plan = DownloadPlan("m/x", "main", "c" * 40, str(tmp_path), [PlannedFile("a.safetensors", 100, False)], [],
                        10**12, GIB)
    part = partial_path(tmp_path, "m/x", plan.commit, "a.safetensors")

    def pull(plan, progress, cancel):  # writes part of a file, then stops as a paused transfer does
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_bytes(b"x" * 40)
        cancel.wait(5)
        raise DownloadCancelled("Download cancelled.")

    def until(condition) -> None:
        deadline = time.monotonic() + 5
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)

    manager = DownloadManager(lambda model: plan, pull)
    manager.start("m/x")
    until(part.exists)
    manager.pause("m/x")
    until(lambda: manager.jobs["m/x"].state == "paused")
    assert manager.jobs["m/x"].state == "paused" and part.exists()  # pause keeps it
    manager.cancel("m/x")
    until(lambda: manager.jobs["m/x"].state == "cancelled")
    assert manager.jobs["m/x"].state == "cancelled" and not part.parent.parent.exists()


@pytest.mark.parametrize(("action", "saying", "ends"), [("pause", "pausing…", "paused"),
                                                        ("cancel", "cancelling…", "cancelled")])
def test_pause_and_cancel_say_so_at_once_and_their_end_when_the_transfer_stops(tmp_path, action, saying, ends):
    import threading
    import time

    from spark_tui.downloads.transfer import DownloadCancelled
    from spark_tui.tui.download_state import DownloadManager

    plan = DownloadPlan("m/x", "main", "c" * 40, str(tmp_path), [PlannedFile("a.safetensors", 100, False)], [],
                        10**12, GIB)
    started, release = threading.Event(), threading.Event()

    def pull(plan, progress, cancel):  # a transfer that takes its time to notice (a chunk still in flight)
        started.set()
        cancel.wait(30)
        release.wait(30)
        raise DownloadCancelled("Download cancelled.")

    manager = DownloadManager(lambda model: plan, pull)
    manager.start("m/x")
    assert started.wait(30)
    getattr(manager, action)("m/x")
    assert manager.jobs["m/x"].state == saying  # at once, not when the transfer has stopped
    assert manager.running() == [manager.jobs["m/x"]]  # still running: quitting now would ask
    release.set()
    deadline = time.monotonic() + 30
    while manager.jobs["m/x"].state == saying and time.monotonic() < deadline:
        time.sleep(0.01)
    assert manager.jobs["m/x"].state == ends and manager.running() == []
