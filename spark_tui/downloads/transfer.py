"""Fetch a planned pull into the standard HF cache, many files at once (bounded), with real progress, cancel and
resume.

Files on Xet storage go through `hf_hub_download` (its fast path when hf_xet is installed; Xet's chunk cache is
what resumes them). Everything else streams into a partial file of ours, `<cache>/.spark-tui-partial/…/<file>.part`
(stream.py): since huggingface_hub 1.x a stopped download's temporary file is deleted, so without this a Ctrl-C on a
40 GB shard would start it over. A finished file is verified (length and checksum) and moved into the cache's
documented layout (blobs/<etag>, a relative link in snapshots/<commit>/, refs/<branch>): nothing in the cache ever
looks complete before it is. The ETag is checked before it names a blob, and every path is resolved inside the
cache (safe_paths.py).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from spark_tui.downloads.plan import DownloadPlan, PlannedFile, partial_path, repo_folder
from spark_tui.downloads.safe_paths import check_etag, inside
from spark_tui.downloads.stream import DownloadCancelled, fetch_into
from spark_tui.errors import SparkTuiError

__all__ = ["DownloadCancelled", "ProgressSnapshot", "TransferProgress", "pull"]

MAX_PARALLEL_FILES = 8


@dataclass(frozen=True)
class FileState:
    path: str
    size: int
    done: int
    state: str  # queued | downloading | done | cached | failed | stopped (paused or cancelled)


@dataclass(frozen=True)
class ProgressSnapshot:
    files: tuple[FileState, ...]
    bytes_done: int  # this pull's bytes plus what was already there
    bytes_total: int
    rate_bps: float  # over the last few seconds
    eta_s: float | None
    elapsed_s: float

    def to_json(self) -> dict[str, Any]:
        return {"event": "progress", "bytes_done": self.bytes_done, "bytes_total": self.bytes_total,
                "rate_bps": round(self.rate_bps), "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
                "files_done": sum(f.state in ("done", "cached") for f in self.files), "files": len(self.files)}


class TransferProgress:
    """Bytes as they arrive, per file and in total; safe to read from another thread (the app's UI)."""

    RATE_WINDOW_S = 5.0

    def __init__(self, plan: DownloadPlan, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._start = clock()
        self._files = {f.path: FileState(f.path, f.size, f.size if f.cached else f.partial_bytes,
                                         "cached" if f.cached else "queued") for f in plan.files}
        self._samples: deque[tuple[float, int]] = deque([(self._start, self._done())])

    def _done(self) -> int:
        return sum(f.done for f in self._files.values())

    def add(self, path: str, n: int) -> None:
        with self._lock:
            f = self._files[path]
            self._files[path] = replace(f, done=max(0, f.done + n), state="downloading")

    def set_state(self, path: str, state: str, done: int | None = None) -> None:
        with self._lock:
            f = self._files[path]
            self._files[path] = replace(f, state=state, done=f.done if done is None else done)

    def snapshot(self) -> ProgressSnapshot:
        with self._lock:
            now = self._clock()
            done = self._done()
            self._samples.append((now, done))
            while len(self._samples) > 2 and now - self._samples[0][0] > self.RATE_WINDOW_S:
                self._samples.popleft()
            t0, d0 = self._samples[0]
            rate = (done - d0) / (now - t0) if now > t0 else 0.0
            total = sum(f.size for f in self._files.values())
            eta = (total - done) / rate if rate > 0 else None
            return ProgressSnapshot(tuple(self._files.values()), done, total, rate, eta, now - self._start)


def _progress_class(progress: TransferProgress, path: str, cancel: threading.Event) -> type:
    """A tqdm for huggingface_hub's downloaders that feeds our progress, and stops the transfer on cancel (the
    exception leaves the partial file as it is)."""
    from tqdm import tqdm

    class FileProgressBar(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True  # we draw our own
            kwargs.pop("name", None)
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            if cancel.is_set():
                raise DownloadCancelled("Download cancelled.")
            progress.add(path, int(n or 0))
            return None

    return FileProgressBar


def pull(plan: DownloadPlan, progress: TransferProgress, cancel: threading.Event | None = None,
         workers: int = MAX_PARALLEL_FILES, token: str | None = None, timeout: float | None = None) -> Path:
    """Fetch every file of the plan that is not cached; returns the snapshot folder. Raises DownloadCancelled
    when cancelled (partial data kept), or the first failure (as a SparkTuiError). `timeout`: the longest wait for
    a server to answer or send more (SPARK_TUI_HUB_TIMEOUT by default)."""
    from spark_tui.hub import hub_timeout
    from spark_tui.hub.fetch import quiet_hub

    quiet_hub()
    timeout = timeout or hub_timeout()
    cancel = cancel or threading.Event()
    todo = [f for f in plan.files if not f.cached]
    errors, failure = _each_in_daemon_threads(
        todo, lambda f: _fetch_one(plan, f, progress, cancel, token, timeout), workers, cancel)
    for f, error in zip(todo, errors, strict=True):
        if error is not None:  # "stopped": paused or cancelled, as the caller decides (the app says which)
            progress.set_state(f.path, "stopped" if isinstance(error, DownloadCancelled) else "failed")
    if failure is not None:
        _raise_in_words(failure, plan, timeout)
    try:
        _write_ref(Path(plan.cache_dir), plan.model, plan.revision, plan.commit)
    except OSError as exc:  # a disk that fills at the very end
        _raise_in_words(exc, plan, timeout)
    return _repo_dir(Path(plan.cache_dir), plan.model) / "snapshots" / plan.commit


def _each_in_daemon_threads(items: list[PlannedFile], fetch: Callable[[PlannedFile], None], workers: int,
                            cancel: threading.Event) -> tuple[list[BaseException | None], BaseException | None]:
    """fetch(item) for every item, `workers` at a time; (each item's exception or None, the first one raised).
    The first failure sets `cancel`: the others stop at their next chunk. Daemon threads, not concurrent.futures':
    its threads are joined when the interpreter exits, so a quit waited out a stalled read (a blank terminal for
    the read timeout). Leaving a daemon thread at exit loses nothing: a partial file only ever grows by bytes
    written in order, and never looks complete."""
    errors: list[BaseException | None] = [None] * len(items)
    first: list[BaseException] = []
    pending = list(enumerate(items))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not pending:
                    return
                index, item = pending.pop(0)
            try:
                fetch(item)
            except BaseException as exc:  # handed to pull(), which words it
                with lock:
                    errors[index] = exc
                    if not first:
                        first.append(exc)
                cancel.set()

    threads = [threading.Thread(target=work, name="spark-tui-pull-file", daemon=True)
               for _ in range(max(1, min(workers, len(items))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors, (first[0] if first else None)


def _raise_in_words(failure: BaseException, plan: DownloadPlan, timeout: float) -> None:
    """Whatever stopped a transfer, as one sentence: the Hub's errors, the disk's, or anything else."""
    from spark_tui.hub.fetch import hub_errors

    if isinstance(failure, SparkTuiError):
        raise failure
    try:
        with hub_errors(plan.model, plan.revision, timeout, cached="", local_files=True):
            raise failure
    except SparkTuiError:
        raise
    except OSError as exc:
        raise SparkTuiError(f"Cannot write the download: {exc.strerror or exc} ({exc.filename or plan.cache_dir}).",
                            "Check the disk (space, permissions) and run the same pull again: it resumes.") from None
    except Exception as exc:
        raise SparkTuiError(f"The download failed: {exc}", "Run the same pull again: it resumes.") from None


def _repo_dir(cache: Path, model: str) -> Path:
    return cache / repo_folder(model)


def _fetch_one(plan: DownloadPlan, f: PlannedFile, progress: TransferProgress, cancel: threading.Event,
               token: str | None, timeout: float) -> None:
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    from spark_tui.hub.fetch import current_endpoint

    if cancel.is_set():
        raise DownloadCancelled("Download cancelled.")
    url = hf_hub_url(plan.model, f.path, revision=plan.commit, endpoint=current_endpoint())
    meta = get_hf_file_metadata(url, token=token, timeout=timeout)
    if meta.xet_file_data is not None and _xet_installed():
        hf_hub_download(plan.model, f.path, revision=plan.commit, cache_dir=plan.cache_dir, token=token,
                        endpoint=current_endpoint(), tqdm_class=_progress_class(progress, f.path, cancel))
        progress.set_state(f.path, "done", f.size)
        return
    if not meta.etag:
        raise SparkTuiError(f"The Hub gave no ETag for {f.path}, so it cannot be placed in the HF cache.",
                            "Retry later; if it persists, use `hf download`.")
    etag = check_etag(meta.etag, f.path)
    cache = Path(plan.cache_dir)
    part = partial_path(cache, plan.model, plan.commit, f.path)
    part.parent.mkdir(parents=True, exist_ok=True)
    progress.set_state(f.path, "downloading", part.stat().st_size if part.exists() else 0)
    fetch_into(url, part, f.size, etag, build_hf_headers(token=token), cancel,
               lambda n: progress.add(f.path, n), f.path, timeout)
    _place(cache, plan.model, plan.commit, f.path, etag, part)
    progress.set_state(f.path, "done", f.size)


def _xet_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("hf_xet") is not None


def _place(cache: Path, model: str, commit: str, filename: str, etag: str, part: Path) -> None:
    """Move a verified file into the HF cache: blobs/<etag>, then the snapshot's relative link to it."""
    repo = repo_folder(model)
    blob = inside(cache, f"{repo}/blobs/{etag}", follow_last=False)
    blob.parent.mkdir(parents=True, exist_ok=True)
    if blob.is_file() and not blob.is_symlink():
        part.unlink()
    else:
        os.chmod(part, 0o644)
        os.replace(part, blob)  # same filesystem: atomic
    link = inside(cache, f"{repo}/snapshots/{commit}/{filename}", follow_last=False)
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{link.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(blob, link.parent), tmp)
    os.replace(tmp, link)


def _write_ref(cache: Path, model: str, revision: str, commit: str) -> None:
    """refs/<branch or tag> → commit, so the revision's name finds this snapshot offline too."""
    if revision == commit:
        return
    from spark_tui.files import write_text_atomic

    write_text_atomic(inside(cache, f"{repo_folder(model)}/refs/{revision}", follow_last=False), commit)
