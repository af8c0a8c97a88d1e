"""Downloads the app runs: one thread per pull (huggingface_hub blocks), progress read by the Downloads screen
twice a second from plain data. Pause keeps the partial files for resume; cancel discards them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from spark_tui.downloads.cache_view import delete_partial
from spark_tui.downloads.plan import DownloadPlan
from spark_tui.downloads.transfer import DownloadCancelled, ProgressSnapshot, TransferProgress
from spark_tui.errors import SparkTuiError
from spark_tui.units import human_bytes

ACTIVE = ("planning", "downloading", "pausing…", "cancelling…")  # a thread still runs


@dataclass
class DownloadJob:
    model: str
    # planning | downloading | pausing… | paused | cancelling… | cancelled | done | failed | refused
    state: str = "planning"
    message: str = ""
    plan: DownloadPlan | None = None
    progress: TransferProgress | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    discard: bool = False

    def snapshot(self) -> ProgressSnapshot | None:
        return self.progress.snapshot() if self.progress is not None else None


class DownloadManager:
    def __init__(self, plan: Callable[[str], DownloadPlan],
                 pull: Callable[[DownloadPlan, TransferProgress, threading.Event], object],
                 notify: Callable[[str, str], None] = lambda message, severity: None) -> None:
        self._plan, self._pull, self._notify = plan, pull, notify
        self.jobs: dict[str, DownloadJob] = {}
        self._threads: list[threading.Thread] = []

    def start(self, model: str) -> DownloadJob:
        job = self.jobs.get(model)
        if job is not None and job.state in ACTIVE:
            return job
        job = self.jobs[model] = DownloadJob(model)
        thread = threading.Thread(target=self._run, args=(job,), name=f"pull {model}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return job

    def _run(self, job: DownloadJob) -> None:
        try:
            plan = self._plan(job.model)
            job.plan = plan
            if not plan.fits:
                job.state = "refused"
                job.message = f"needs {human_bytes(plan.bytes_to_fetch)} + margin, {human_bytes(plan.free_bytes)} free"
                self._notify(f"Not downloading {job.model}: {job.message}.", "error")
                return
            job.progress = TransferProgress(plan)
            if not job.cancel.is_set():  # else it says "pausing…" or "cancelling…" until the pull stops
                job.state = "downloading"
            self._pull(plan, job.progress, job.cancel)
        except DownloadCancelled:
            if job.discard:
                self._discard(job)
                job.state, job.message = "cancelled", "partial data discarded"
            else:
                job.state, job.message = "paused", "partial data kept: r resumes"
            return
        except SparkTuiError as exc:
            job.state, job.message = "failed", exc.message
            self._notify(f"{job.model}: {exc.message}", "error")
            return
        except Exception as exc:  # a thread that dies must not leave its row "downloading" for ever
            job.state, job.message = "failed", f"{type(exc).__name__}: {exc}"
            self._notify(f"{job.model}: the download failed ({job.message}).", "error")
            return
        job.state, job.message = "done", ""
        self._notify(f"{job.model} is downloaded.", "information")

    def pause(self, model: str) -> None:
        """Stop the pull at its next chunk, keeping what arrived; it says "pausing…" at once, "paused" once its
        transfers have stopped."""
        job = self.jobs.get(model)
        if job is not None and job.state in ("planning", "downloading"):
            job.state = "pausing…"
            job.cancel.set()

    def cancel(self, model: str) -> None:
        """Stop the pull and discard what arrived; it says "cancelling…" at once, "cancelled" once done."""
        job = self.jobs.get(model)
        if job is None or job.state in ("cancelling…", "cancelled", "done"):
            return
        job.discard = True
        if job.state in ACTIVE:
            job.state = "cancelling…"
            job.cancel.set()
        elif job.state in ("paused", "failed"):  # nothing running: delete its partial files off the UI thread
            job.state = "cancelling…"

            def discard() -> None:
                self._discard(job)
                job.state, job.message = "cancelled", "partial data discarded"

            threading.Thread(target=discard, name=f"discard {model}", daemon=True).start()

    @staticmethod
    def _discard(job: DownloadJob) -> None:
        if job.plan is not None:
            delete_partial(job.model, Path(job.plan.cache_dir))

    def running(self) -> list[DownloadJob]:
        return [job for job in self.jobs.values() if job.state in ACTIVE]

    def stop_all(self, timeout: float = 0.5) -> None:
        """At quit: stop every transfer at its next chunk and give the threads a moment. Quitting does not wait
        longer than that (a stalled read may not return for its whole timeout): the transfer threads are daemons,
        and partial files only grow by bytes written in order and never look complete, so nothing is lost."""
        import time

        for job in self.jobs.values():
            job.cancel.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
