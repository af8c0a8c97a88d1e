"""Rules: known engine/hardware/checkpoint issues as TOML data, and the catalog of recommended models."""

from __future__ import annotations

import os
from pathlib import Path

from spark_tui.paths import config_dir, data_dir
from spark_tui.rules.evaluate import Finding, evaluate, rule_applies
from spark_tui.rules.loader import LoadResult, load_catalog, load_rules, load_rules_file
from spark_tui.rules.model import CatalogEntry, Reference, Rule

__all__ = [
    "CatalogEntry", "Finding", "LoadResult", "Reference", "Rule", "builtin_rule_paths", "evaluate",
    "load_all_rules", "load_catalog", "load_rules", "load_rules_file", "rule_applies", "user_rule_paths",
]


def builtin_rule_paths() -> list[Path]:
    return [data_dir() / "known-issues"]


def user_rule_paths() -> list[Path]:
    folder = config_dir() / "rules"
    return [folder] if folder.is_dir() else []


def load_all_rules(extra: list[Path] | None = None) -> LoadResult:
    """Built-in rules, then the user's rules folder, then any --rules PATH (and SPARK_TUI_RULES)."""
    paths = builtin_rule_paths() + user_rule_paths() + list(extra or [])
    env = os.environ.get("SPARK_TUI_RULES")
    if env:
        paths += [Path(p) for p in env.split(os.pathsep) if p]
    return _cached_load(paths)


def _fingerprint(paths: list[Path]) -> str | None:
    """Identity of the rules files and of the code that validates them (names, sizes, mtimes)."""
    import zlib

    from spark_tui import __version__

    parts = [__version__]
    code = Path(__file__).parent
    try:
        for path in [code / "loader.py", code / "model.py", code / "facts.py", *paths]:
            files = sorted(path.rglob("*.toml")) if path.is_dir() else [path]
            for file in files:
                st = file.stat()
                parts.append(f"{file.resolve()}:{st.st_size}:{st.st_mtime_ns}")
    except OSError:
        return None  # a missing path: load normally, which reports it
    text = "\n".join(parts).encode()
    return f"{zlib.crc32(text):08x}{zlib.adler32(text):08x}"


def _cached_load(paths: list[Path]) -> LoadResult:
    """Validated rules are kept pickled in the cache, so a warm `check` skips parsing and validation."""
    import pickle

    from spark_tui.paths import cache_dir

    key = _fingerprint(paths)
    target = cache_dir() / "rules" / f"{key}.pickle" if key else None
    if target is not None and target.is_file():
        try:
            with target.open("rb") as fh:
                cached = pickle.load(fh)
            if isinstance(cached, LoadResult):
                return cached
        except Exception:  # damaged or from another version: rebuild it
            pass
    result = load_rules(paths)
    if target is not None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(pickle.dumps(result))
            os.replace(tmp, target)
        except OSError:
            pass  # a read-only cache only costs speed
    return result
