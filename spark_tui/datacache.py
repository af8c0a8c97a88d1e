"""Pickled results of parsing and validating shipped data (rules, profiles, engines), keyed by the files'
names, sizes and mtimes and by the code version. A warm `check` then skips TOML parsing, validation and the
imports they need; a changed file or a new spark-tui rebuilds the entry."""

from __future__ import annotations

import os
import pickle
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, cast

T = TypeVar("T")


_CODE_DIR = os.path.dirname(os.path.abspath(__file__))


def _files(path: str) -> list[str]:
    if not os.path.isdir(path):
        return [path]
    found = [os.path.join(folder, name) for folder, _, names in os.walk(path) for name in names
             if name.endswith(".toml")]
    return sorted(found)


def _fingerprint(paths: list[Path]) -> str | None:
    from spark_tui import __version__

    parts = [__version__, _CODE_DIR]
    try:
        for path in paths:
            for file in _files(os.path.abspath(path)):  # abspath: no system calls (resolve() makes some)
                st = os.stat(file)
                parts.append(f"{file}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}")
    except OSError:
        return None  # a missing path: build normally, which reports it
    text = os.fsencode("\n".join(parts))  # a file name need not be UTF-8
    return f"{zlib.crc32(text):08x}{zlib.adler32(text):08x}"


def cached(name: str, inputs: list[Path], build: Callable[[], T], kind: type) -> T:
    from spark_tui.paths import cache_dir

    key = _fingerprint(inputs)
    target = cache_dir() / "data" / f"{name}-{key}.pickle" if key else None
    if target is not None and target.is_file():
        try:
            with target.open("rb") as fh:
                value = pickle.load(fh)
            if isinstance(value, kind):
                return cast(T, value)
        except Exception:  # damaged or from another version: rebuild it
            pass
    value = build()
    if target is not None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(pickle.dumps(value))
            os.replace(tmp, target)
        except OSError:
            pass  # a read-only cache only costs speed
    return value
