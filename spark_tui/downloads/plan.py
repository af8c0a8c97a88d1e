"""Before a byte moves: what a pull fetches (the repo's listing at one commit, minus what the HF cache already
holds, minus what a stopped pull already has), against the free space of the cache's filesystem."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spark_tui.downloads.safe_paths import check_commit, check_filename, inside, is_safe_relative
from spark_tui.downloads.select import RepoFile, SkippedFile, select_files
from spark_tui.errors import HubAnswerError, HubUnavailableError, SparkTuiError, UsageError
from spark_tui.hub import hub_timeout

GIB = 1024**3
PARTIAL_DIR = ".spark-tui-partial"  # inside the HF cache (same filesystem: a finished file is moved, not copied)


class DiskFullError(SparkTuiError):
    """Not enough free space for a pull (exit status 1: refused)."""

    exit_code = 1


@dataclass(frozen=True)
class PlannedFile:
    path: str
    size: int
    cached: bool  # already complete in the HF cache at this commit
    partial_bytes: int = 0  # what a stopped pull left, resumed from


@dataclass(frozen=True)
class DownloadPlan:
    model: str
    revision: str
    commit: str
    cache_dir: str
    files: list[PlannedFile]
    skipped: list[SkippedFile]
    free_bytes: int
    margin_bytes: int
    notes: list[str] = field(default_factory=list)

    @property
    def bytes_total(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def bytes_cached(self) -> int:
        return sum(f.size if f.cached else f.partial_bytes for f in self.files)

    @property
    def bytes_to_fetch(self) -> int:
        return self.bytes_total - self.bytes_cached

    @property
    def bytes_skipped(self) -> int:
        return sum(f.size for f in self.skipped)

    @property
    def fits(self) -> bool:
        return self.bytes_to_fetch + self.margin_bytes <= self.free_bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "event": "plan", "model": self.model, "revision": self.revision, "commit": self.commit,
            "files": [{"path": f.path, "size": f.size, "cached": f.cached, "partial_bytes": f.partial_bytes}
                      for f in self.files],
            "skipped": [{"path": f.path, "size": f.size, "reason": f.reason} for f in self.skipped],
            "bytes_total": self.bytes_total, "bytes_to_fetch": self.bytes_to_fetch, "bytes_cached": self.bytes_cached,
            "bytes_skipped": self.bytes_skipped, "free_bytes": self.free_bytes, "margin_bytes": self.margin_bytes,
            "cache_dir": self.cache_dir, "notes": self.notes,
        }


def hub_cache_dir() -> Path:
    from huggingface_hub import constants  # HF_HOME / HF_HUB_CACHE, as every other tool reads them

    return Path(constants.HF_HUB_CACHE)


def free_space(path: Path) -> int:
    """Free bytes on the filesystem that holds `path` (its nearest existing parent)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return shutil.disk_usage(path).free


def safety_margin(bytes_to_fetch: int) -> int:
    """Room left over after a pull: 1 GiB, or 2 % of the pull when that is more (logs, the page cache's
    write-back, the next small download)."""
    return max(GIB, bytes_to_fetch // 50)


def repo_folder(model: str) -> str:
    """The folder huggingface_hub names a model's cache after (models--owner--name)."""
    from huggingface_hub.file_download import repo_folder_name

    return repo_folder_name(repo_id=model, repo_type="model")


def partial_path(cache_dir: Path, model: str, commit: str, filename: str) -> Path:
    """Where a stopped pull's bytes of `filename` wait (commit and name already checked), resolved inside the cache."""
    return inside(cache_dir, f"{PARTIAL_DIR}/{repo_folder(model)}/{commit}/{filename}.part")


def make_plan(model: str, revision: str | None = None, include: list[str] | None = None,
              exclude: list[str] | None = None, everything: bool = False, timeout: float | None = None,
              free: Callable[[Path], int] = free_space) -> DownloadPlan:
    """The plan for pulling `model` at `revision` into the HF cache. `free` is the free-space check (tests pass a
    small figure; the CLI uses the real filesystem). Offline (HF_HUB_OFFLINE), the plan comes from the cache."""
    from huggingface_hub import try_to_load_from_cache

    from spark_tui.hub import is_offline, validate_repo_id

    validate_repo_id(model)
    if revision is not None and not is_safe_relative(revision):
        raise UsageError(f"'{revision}' is not a branch, tag or commit name.", "Example: --revision main")
    cache = hub_cache_dir()
    if is_offline():
        commit, listing = _cached_listing(model, revision, cache)
        notes = ["Offline (HF_HUB_OFFLINE): planned from the HF cache; the Hub's listing was not checked."]
    else:
        commit, listing = _hub_listing(model, revision, timeout or hub_timeout())
        notes = []
    keep, skipped = select_files(listing, include, exclude, everything)
    files = []
    for f in keep:
        cached = isinstance(try_to_load_from_cache(model, f.path, cache_dir=cache, revision=commit), str)
        part = partial_path(cache, model, commit, f.path)
        partial = part.stat().st_size if not cached and part.is_file() else 0
        files.append(PlannedFile(f.path, f.size, cached, min(partial, f.size)))
    to_fetch = sum(f.size - f.partial_bytes for f in files if not f.cached)
    return DownloadPlan(model=model, revision=revision or "main", commit=commit, cache_dir=str(cache), files=files,
                        skipped=skipped, free_bytes=free(cache), margin_bytes=safety_margin(to_fetch), notes=notes)


def _hub_listing(model: str, revision: str | None, timeout: float) -> tuple[str, list[RepoFile]]:
    """(commit, files) as the Hub lists them, each name, size and the commit checked before any becomes a path."""
    from huggingface_hub import HfApi

    from spark_tui.downloads.stream import http_client
    from spark_tui.hub.fetch import current_endpoint, hub_errors, quiet_hub
    from spark_tui.hub.reach import call_hub

    quiet_hub()
    endpoint = current_endpoint()
    malformed = f"{endpoint} sent something other than {model}'s file listing"
    with hub_errors(model, revision, timeout, cached=""):
        try:  # huggingface_hub's own retries sit inside this one deadline; no Hub at all is said at once
            info = call_hub(lambda: HfApi(endpoint=endpoint).model_info(
                model, revision=revision, files_metadata=True, timeout=timeout), timeout, name="pull plan",
                endpoint=endpoint)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # not JSON, or JSON of another shape
            raise HubAnswerError(f"{malformed} ({type(exc).__name__}); nothing was written.",
                                 "Check HF_ENDPOINT (a proxy or login page answering?), or retry later.") from None
        except http_client().RemoteProtocolError:  # it answered, then broke off: not a reachability problem
            raise HubAnswerError(f"{endpoint} broke off its answer for {model} (an incomplete file listing); nothing "
                                 "was written.", "Retry later; if it persists, check HF_ENDPOINT.") from None
    if info.sha is None:
        raise HubAnswerError(f"{malformed} (no commit); nothing was written.", "Check HF_ENDPOINT, or retry later.")
    commit = check_commit(info.sha, model)
    if not isinstance(info.siblings, list):
        raise HubAnswerError(f"{malformed} (no list of files); nothing was written.", "Check HF_ENDPOINT.")
    listing = []
    for sibling in info.siblings:
        name = check_filename(getattr(sibling, "rfilename", None), model)
        size = getattr(sibling, "size", None)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise HubAnswerError(f"{malformed} (the size of {name} is {str(size)[:40]!r}, not a number of bytes); "
                                 "nothing was written.", "Check HF_ENDPOINT, or retry later.")
        listing.append(RepoFile(name, size))
    return commit, listing


def _cached_listing(model: str, revision: str | None, cache: Path) -> tuple[str, list[RepoFile]]:
    """(commit, files) of the revision already in the HF cache; huggingface_hub resolves the branch or tag."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(model, revision=revision, cache_dir=cache, local_files_only=True))
    except LocalEntryNotFoundError:
        what = f"{model} at {revision}" if revision else model
        raise HubUnavailableError(f"Offline mode is on and {what} is not in the HF cache, so there is nothing to "
                                  "plan from.", "Unset HF_HUB_OFFLINE to fetch it.") from None
    commit = check_commit(folder.name, model)
    files = sorted(p for p in folder.rglob("*") if p.is_file())  # follows the links into blobs/
    return commit, [RepoFile(p.relative_to(folder).as_posix(), p.stat().st_size) for p in files]


def page_cache_note(unified: bool, bytes_to_fetch: int) -> str | None:
    """On unified memory (GB10) a big download fills the page cache, which vLLM's start-up check does not count
    as free (reference: NVIDIA's DGX Spark playbooks)."""
    if not unified or bytes_to_fetch < GIB:
        return None
    return ("On unified memory a large download fills the page cache, which lowers the free memory vLLM's start-up "
            "check reads; before launching, drop it: sudo sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'")
