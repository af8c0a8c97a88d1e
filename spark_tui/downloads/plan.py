"""Before a byte moves: what a pull fetches (the repo's listing at one commit, minus what the HF cache already
holds, minus what a stopped pull already has), against the free space of the cache's filesystem."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spark_tui.downloads.select import RepoFile, SkippedFile, select_files
from spark_tui.errors import SparkTuiError

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
    return cache_dir / PARTIAL_DIR / repo_folder(model) / commit / (filename + ".part")


def make_plan(model: str, revision: str | None = None, include: list[str] | None = None,
              exclude: list[str] | None = None, everything: bool = False, timeout: float = 10.0,
              free: Callable[[Path], int] = free_space) -> DownloadPlan:
    """The plan for pulling `model` at `revision` into the HF cache. `free` is the free-space check (tests pass a
    small figure; the CLI uses the real filesystem)."""
    from huggingface_hub import HfApi, try_to_load_from_cache

    from spark_tui.hub import validate_repo_id
    from spark_tui.hub.fetch import current_endpoint, hub_errors, quiet_hub

    validate_repo_id(model)
    quiet_hub()
    with hub_errors(model, revision, timeout, cached=""):
        info = HfApi(endpoint=current_endpoint()).model_info(model, revision=revision, files_metadata=True,
                                                            timeout=timeout)
    commit = info.sha or revision or "main"
    listing = [RepoFile(s.rfilename, int(s.size or 0)) for s in info.siblings or []]
    keep, skipped = select_files(listing, include, exclude, everything)
    cache = hub_cache_dir()
    files = []
    for f in keep:
        cached = isinstance(try_to_load_from_cache(model, f.path, cache_dir=cache, revision=commit), str)
        part = partial_path(cache, model, commit, f.path)
        partial = part.stat().st_size if not cached and part.exists() else 0
        files.append(PlannedFile(f.path, f.size, cached, min(partial, f.size)))
    to_fetch = sum(f.size - f.partial_bytes for f in files if not f.cached)
    return DownloadPlan(model=model, revision=revision or "main", commit=commit, cache_dir=str(cache), files=files,
                        skipped=skipped, free_bytes=free(cache), margin_bytes=safety_margin(to_fetch))


def page_cache_note(unified: bool, bytes_to_fetch: int) -> str | None:
    """On unified memory (GB10) a big download fills the page cache, which vLLM's start-up check does not count
    as free (reference: NVIDIA's DGX Spark playbooks)."""
    if not unified or bytes_to_fetch < GIB:
        return None
    return ("On unified memory a large download fills the page cache, which lowers the free memory vLLM's start-up "
            "check reads; before launching, drop it: sudo sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'")
