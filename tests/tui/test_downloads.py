"""The Downloads screen: a real pull from the app (search → model → d) against the emulator, pause and resume,
cancel with the partial data discarded, delete from the cache with a confirmation; and snapshots with fixed
data."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.widgets import DataTable

from spark_tui.downloads.cache_view import CachedRevision, CacheListing
from spark_tui.downloads.plan import GIB, DownloadPlan, PlannedFile, hub_cache_dir
from spark_tui.downloads.select import SkippedFile
from spark_tui.downloads.transfer import TransferProgress
from spark_tui.tui.app import SparkTuiApp
from spark_tui.tui.download_state import DownloadJob
from spark_tui.tui.screens.downloads import DownloadsScreen
from tests.support.small_model import small_model_files
from tests.tui.conftest import select_row, services, settle

REPO = "spark-test/Small-Model"
SHARD = "model-00001-of-00002.safetensors"


async def wait_for(pilot, condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError("timed out")


async def test_download_from_the_app_then_delete_it_from_the_cache(hub, tmp_path):
    repo = hub.add_repo(REPO, small_model_files(2))
    app = SparkTuiApp(services(), hardware="gb10")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash")
        await pilot.press(*"Small-Model")
        await wait_for(pilot, lambda: REPO in app.rows and not app.rows[REPO].loading)
        await pilot.press("enter")
        await select_row(app, pilot, REPO)
        await pilot.press("enter")  # the model's detail
        await pilot.pause()
        await pilot.press("d")
        await pilot.press("escape")
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, DownloadsScreen))
        await wait_for(pilot, lambda: app.downloads.jobs[REPO].state == "done")
        await wait_for(pilot, lambda: app.cache_listing is not None and any(
            r.model == REPO for r in app.cache_listing.revisions))
        await pilot.pause(0.6)
        cells = [str(c) for c in app.screen.query_one("#downloads", DataTable).get_row(REPO)]
        assert cells[0] == "done" and cells[4] == REPO and cells[1].endswith(" MiB")
        assert cells[1].split(" / ")[0] == cells[1].split(" / ")[1]
        assert [r.model for r in app.cache_listing.revisions] == [REPO]  # configs from lookups are not models
        snapshot_dir = Path(app.cache_listing.revisions[0].path)
        assert (snapshot_dir / SHARD).read_bytes() == repo.files[SHARD]
        assert "skipped 2 duplicate files" in str(app.screen.query_one("#download-files").render())
        # Delete it from disk: asked first, then gone.
        await pilot.press("tab")
        await pilot.press("X")
        await pilot.pause()
        assert "Delete spark-test/Small-Model" in str(app.screen.query("Label").first().render())
        await pilot.press("y")
        await wait_for(pilot, lambda: app.cache_listing is not None and not app.cache_listing.revisions)
        assert not snapshot_dir.exists()


async def test_pause_keeps_the_partial_data_resume_finishes_cancel_discards(hub, tmp_path):
    repo = hub.add_repo(REPO, small_model_files(48))
    hub.throttle(SHARD, bytes_per_s=5 * 1024 * 1024)  # ~10 s for the shard: the pause lands mid-file
    app = SparkTuiApp(services(), hardware="gb10")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        app.download(REPO)
        app.push_screen(DownloadsScreen())
        # huggingface_hub reads HF_HOME once per process: ask it where its cache is, as the app does.
        partial_dir = hub_cache_dir() / ".spark-tui-partial"
        await wait_for(pilot, lambda: any(p.stat().st_size > 0 for p in partial_dir.rglob(f"{SHARD}.part")))
        await pilot.press("p")
        assert app.downloads.jobs[REPO].state in ("pausing…", "paused")
        await wait_for(pilot, lambda: app.downloads.jobs[REPO].state == "paused")
        await pilot.pause(0.6)
        files = str(app.screen.query_one("#download-files").render())
        assert f"{SHARD}  paused" in files and "cancelled" not in files, files  # a pause is not a cancel
        kept = sum(p.stat().st_size for p in partial_dir.rglob(f"{SHARD}.part"))
        assert 0 < kept < len(repo.files[SHARD])
        hub.clear()  # full speed from here
        await pilot.press("r")
        await wait_for(pilot, lambda: app.downloads.jobs[REPO].state == "done")
        job = app.downloads.jobs[REPO]
        assert any(path.endswith(SHARD) for path, _ in hub.ranges), (  # resumed, not restarted
            hub.ranges, [r for r in hub.requests if SHARD in r[1]], job.plan.files, kept)
        shard = next(hub_cache_dir().glob(f"models--spark-test--Small-Model/snapshots/*/{SHARD}"))
        assert shard.read_bytes() == repo.files[SHARD]
        # Cancel another pull: its partial data goes.
        other = "spark-test/Other-Model"
        hub.add_repo(other, small_model_files(24))
        hub.throttle(SHARD, bytes_per_s=6 * 1024 * 1024)
        app.download(other)
        other_dir = partial_dir / "models--spark-test--Other-Model"
        await wait_for(pilot, lambda: any(p.stat().st_size > 0 for p in other_dir.rglob(f"{SHARD}.part")))
        app.downloads.cancel(other)
        await wait_for(pilot, lambda: app.downloads.jobs[other].state == "cancelled")
        assert not other_dir.exists()
        hub.clear()


def fixed_downloads(app: SparkTuiApp) -> None:
    """A pull half-way (one shard done, one at 40 %, one queued) and a paused one; a cache of two models."""
    files = [PlannedFile("config.json", 1_234, True), PlannedFile("model-00001-of-00003.safetensors", 5 * GIB, False),
             PlannedFile("model-00002-of-00003.safetensors", 5 * GIB, False),
             PlannedFile("model-00003-of-00003.safetensors", 3 * GIB, False)]
    plan = DownloadPlan("RedHatAI/Qwen3-30B-A3B-NVFP4", "main", "a" * 40, "/home/me/.cache/huggingface/hub", files,
                        [SkippedFile("pytorch_model.bin", 16 * GIB, "PyTorch pickle (a duplicate of the safetensors)")],
                        200 * GIB, GIB)
    clock = [0.0]
    progress = TransferProgress(plan, clock=lambda: clock[0])
    clock[0] = 40.0
    progress.add("model-00001-of-00003.safetensors", 5 * GIB)
    progress.set_state("model-00001-of-00003.safetensors", "done")
    progress.add("model-00002-of-00003.safetensors", 2 * GIB)
    app.downloads.jobs[plan.model] = DownloadJob(plan.model, "downloading", plan=plan, progress=progress)
    app.downloads.jobs["nvidia/Qwen3-8B-NVFP4"] = DownloadJob("nvidia/Qwen3-8B-NVFP4", "paused",
                                                             "partial data kept: r resumes")
    day = 86400
    app.cache_listing = CacheListing([
        CachedRevision("RedHatAI/Qwen3-8B-NVFP4", "b" * 40, ("main",), int(6.3 * GIB), "/x", time.time() - 3 * day,
                       0, "ok"),
        CachedRevision("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4", "c" * 40, ("main",), int(19.4 * GIB), "/y",
                       time.time() - 40 * day, 0, "incompatible"),
    ], "/home/me/.cache/huggingface/hub", int(812.5 * GIB), 0)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_downloads_screen_snapshot(snap_compare, hub, size):
    app = SparkTuiApp(services(), hardware="gb10")

    async def show(pilot):
        await settle(app, pilot)
        fixed_downloads(app)
        app.push_screen(DownloadsScreen(poll=False))
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=show)


async def test_the_downloads_columns_fit_their_widest_values_as_they_change(hub):
    # The row was added while planning ("—"): later "670 B / 23.8 GiB" showed as "670 B / 23.8", and
    # "cancelled" as "cancelle".
    app = SparkTuiApp(services(), hardware="gb10")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        model = "org/Big-Model"
        job = app.downloads.jobs[model] = DownloadJob(model, "done")
        screen = DownloadsScreen(poll=False)
        await app.push_screen(screen)
        await pilot.pause(0.2)
        table = screen.query_one("#downloads", DataTable)

        async def row() -> str:
            screen.refresh_from_app()
            await pilot.pause(0.2)
            return table.render_line(1).text

        assert (await row()).split()[:2] == ["done", "—"]
        plan = DownloadPlan(model, "main", "a" * 40, "/x", [PlannedFile("model.safetensors", int(23.8 * GIB),
                                                                        False)], [], 200 * GIB, GIB)
        job.plan, job.progress, job.state = plan, TransferProgress(plan), "downloading"
        job.progress.add("model.safetensors", 670)
        words = (await row()).split()
        assert words[:5] == ["downloading", "670", "B", "/", "23.8"] and words[5] == "GiB", words
        job.state, job.message = "cancelled", "partial data discarded"
        words = (await row()).split()
        assert words[0] == "cancelled" and words[1:6] == ["670", "B", "/", "23.8", "GiB"], words
