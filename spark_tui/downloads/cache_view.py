"""The local model cache as huggingface_hub sees it (`scan_cache_dir`): models, revisions, sizes, last access,
each with its verdict on this machine; deleting and pruning through huggingface_hub's own delete strategy."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark_tui.downloads.plan import PARTIAL_DIR, hub_cache_dir, repo_folder
from spark_tui.downloads.safe_paths import inside
from spark_tui.errors import UsageError

WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pth", ".pt")


@dataclass(frozen=True)
class CachedRevision:
    model: str
    revision: str  # the commit
    refs: tuple[str, ...]  # branch/tag names pointing at it
    size_bytes: int  # on disk (blobs shared with other revisions counted once per revision, as huggingface_hub does)
    path: str  # the snapshot folder
    last_accessed: float  # the repo's newest access (huggingface_hub tracks it per repo)
    last_modified: float
    verdict: str | None = None  # ok | caution | incompatible | unknown, when asked for
    has_weights: bool = True  # False: only config files (what a metadata lookup leaves in the HF cache)

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "revision": self.revision, "refs": list(self.refs),
                "size_bytes": self.size_bytes, "path": self.path, "last_accessed": round(self.last_accessed, 3),
                "verdict": self.verdict, "has_weights": self.has_weights}


def scan(cache_dir: Path | None = None, with_metadata_only: bool = False) -> list[CachedRevision]:
    """Revisions in the cache; those holding only config files (left by metadata lookups, spark-tui's own and
    other tools') only when asked for."""
    from huggingface_hub import scan_cache_dir

    cache = cache_dir or hub_cache_dir()
    if not cache.exists():
        return []
    info = scan_cache_dir(cache)  # folders it cannot read become warnings, not failures
    found = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        for rev in repo.revisions:
            weights = any(f.file_name.endswith(WEIGHT_SUFFIXES) for f in rev.files)
            found.append(CachedRevision(repo.repo_id, rev.commit_hash, tuple(sorted(rev.refs)), rev.size_on_disk,
                                        str(rev.snapshot_path), repo.last_accessed, rev.last_modified,
                                        has_weights=weights))
    found = [r for r in found if r.has_weights or with_metadata_only]
    return sorted(found, key=lambda r: (r.model.lower(), -r.last_modified))


def check_model_id(model: str) -> None:
    """A model named on the command line before it becomes a folder name in the cache."""
    from spark_tui.hub import validate_repo_id

    try:
        validate_repo_id(model)
    except UsageError:
        shown = repr(model) if len(model) <= 80 else repr(model[:77]) + "…"
        raise UsageError(f"{shown} is not a Hugging Face model id (owner/name), so it names nothing in the cache.",
                         "List what is cached with: spark-tui cache ls") from None


def _partial_dir(model: str, cache_dir: Path | None) -> Path:
    check_model_id(model)
    cache = cache_dir or hub_cache_dir()
    return inside(cache, f"{PARTIAL_DIR}/{repo_folder(model)}")


def partial_bytes(model: str | None = None, cache_dir: Path | None = None) -> int:
    """Bytes of stopped pulls waiting to be resumed (one model's, or all)."""
    root = _partial_dir(model, cache_dir) if model else (cache_dir or hub_cache_dir()) / PARTIAL_DIR
    return sum(p.stat().st_size for p in root.rglob("*.part")) if root.exists() else 0


def with_verdicts(revisions: list[CachedRevision], hardware: Any, rules: list) -> list[CachedRevision]:
    """Each revision judged on this machine from the files on disk (config.json and friends), for vLLM."""
    from dataclasses import replace

    from spark_tui.advisor import PlanOptions, advise
    from spark_tui.errors import SparkTuiError
    from spark_tui.hub.facts import build_model_facts
    from spark_tui.hub.local import read_local

    judged = []
    for rev in revisions:
        try:
            raw = read_local(Path(rev.path))
            facts = build_model_facts(rev.model, source="local", revision=rev.revision, api=raw["api"],
                                      config=raw["config"], hf_quant_config=raw["hf_quant_config"], files=raw["files"])
            verdict = advise(facts, hardware, PlanOptions(), rules).verdict
        except (SparkTuiError, OSError, ValueError):
            verdict = "unknown"
        judged.append(replace(rev, verdict=verdict))
    return judged


def select(revisions: list[CachedRevision], model: str, revision: str | None = None) -> list[CachedRevision]:
    check_model_id(model)
    chosen = [r for r in revisions if r.model == model and (revision is None or r.revision.startswith(revision)
                                                             or revision in r.refs)]
    if not chosen:
        known = ", ".join(sorted({r.model for r in revisions})) or "nothing"
        what = f"{model}@{revision}" if revision else model
        raise UsageError(f"{what} is not in the cache.", f"Cached: {known}." if len(known) < 300 else
                         "List it with: spark-tui cache ls")
    return chosen


def select_prune(revisions: list[CachedRevision], older_than_s: float | None = None,
                 keep_bytes: int | None = None, now: float | None = None) -> list[CachedRevision]:
    """Revisions to delete: unused for longer than `older_than_s`, and/or the least recently used ones beyond
    `keep_bytes` in all."""
    now = time.time() if now is None else now
    doomed = {r.path: r for r in revisions if older_than_s is not None and now - r.last_accessed > older_than_s}
    if keep_bytes is not None:
        kept = 0
        for r in sorted(revisions, key=lambda r: r.last_accessed, reverse=True):
            if r.path in doomed:
                continue
            if kept + r.size_bytes <= keep_bytes:
                kept += r.size_bytes
            else:
                doomed[r.path] = r
    return sorted(doomed.values(), key=lambda r: r.last_accessed)


def delete(revisions: list[CachedRevision], cache_dir: Path | None = None, dry_run: bool = False) -> int:
    """Delete revisions with huggingface_hub's strategy (shared blobs stay while another revision uses them), and
    a model's partial downloads when all its revisions go. Returns the bytes freed (or that would be)."""
    from huggingface_hub import scan_cache_dir

    cache = cache_dir or hub_cache_dir()
    strategy = scan_cache_dir(cache).delete_revisions(*[r.revision for r in revisions])
    freed = strategy.expected_freed_size
    remaining = {r.model for r in scan(cache, True) if r.path not in {d.path for d in revisions}}
    partial_models = {r.model for r in revisions} - remaining
    freed += sum(partial_bytes(m, cache) for m in partial_models)
    if not dry_run:
        strategy.execute()
        for m in partial_models:
            delete_partial(m, cache)
    return freed


def delete_partial(model: str, cache_dir: Path | None = None) -> None:
    """Forget a model's stopped pulls (their partial files)."""
    shutil.rmtree(_partial_dir(model, cache_dir), ignore_errors=True)


def parse_age(text: str) -> float:
    """'30d', '12h', '90m', '2w' → seconds."""
    units = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    try:
        return float(text[:-1]) * units[text[-1].lower()]
    except (KeyError, ValueError, IndexError):
        raise UsageError(f"'{text}' is not an age.", "Use a number and a unit: 90m, 12h, 30d, 2w.") from None


def parse_size(text: str) -> int:
    """'200G', '500M', '1.5T', '1024' → bytes (binary units, as the sizes shown)."""
    units = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    try:
        if t and t[-1] in units:
            return int(float(t[:-1]) * units[t[-1]])
        return int(t)
    except ValueError:
        raise UsageError(f"'{text}' is not a size.", "Use a number and a unit: 500M, 200G, 1.5T.") from None


@dataclass(frozen=True)
class CacheListing:
    revisions: list[CachedRevision]
    cache_dir: str
    free_bytes: int
    partial_bytes: int


def listing(hardware: Any, rules: list) -> CacheListing:
    """Everything the cache view shows, in one call (from a worker: it reads the disk)."""
    from spark_tui.downloads.plan import free_space

    cache = hub_cache_dir()
    return CacheListing(with_verdicts(scan(cache), hardware, rules), str(cache), free_space(cache),
                        partial_bytes(cache_dir=cache))
