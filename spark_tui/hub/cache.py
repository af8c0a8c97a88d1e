"""A small metadata cache: what a check fetched, keyed by endpoint + repo + commit.

refs.json maps a revision ("main") to the commit it resolved to and when; <commit>.json holds the raw
metadata (API answer, config.json, hf_quant_config.json). A repeated check inside the TTL makes no
network request; offline mode answers from here whatever the age. Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from spark_tui.files import write_json_atomic

DEFAULT_TTL_SECONDS = 24 * 3600


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def endpoint_key(endpoint: str) -> str:
    # "https://huggingface.co/" → "huggingface.co"; "http://127.0.0.1:8765" → "127.0.0.1_8765"
    return _safe(re.sub(r"^[a-z]+://", "", endpoint).strip("/"))


class MetadataCache:
    def __init__(self, root: Path, endpoint: str) -> None:
        self.root = root / endpoint_key(endpoint)

    def _repo_dir(self, repo_id: str) -> Path:
        return self.root / _safe(repo_id.replace("/", "--"))

    def _read(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None  # missing or damaged: treated as not cached

    def resolve(self, repo_id: str, revision: str, max_age: float | None) -> str | None:
        """The commit `revision` resolved to, if known and younger than max_age (None: any age)."""
        if re.fullmatch(r"[0-9a-f]{40}", revision):
            return revision if (self._repo_dir(repo_id) / f"{revision}.json").exists() else None
        refs = self._read(self._repo_dir(repo_id) / "refs.json") or {}
        entry = refs.get(revision)
        if not isinstance(entry, dict):
            return None
        if max_age is not None and time.time() - float(entry.get("at", 0)) > max_age:
            return None
        return entry.get("commit")

    def load(self, repo_id: str, commit: str) -> dict[str, Any] | None:
        """What was stored for `commit`; None (fetch again) when missing or not of the shape `store` writes."""
        data = self._read(self._repo_dir(repo_id) / f"{_safe(commit)}.json")
        if not isinstance(data, dict) or not isinstance(data.get("api"), dict):
            return None
        if any(data.get(key) is not None and not isinstance(data[key], dict) for key in ("config", "hf_quant_config")):
            return None
        return data

    def store(self, repo_id: str, revision: str, commit: str, raw: dict[str, Any]) -> None:
        folder = self._repo_dir(repo_id)
        write_json_atomic(folder / f"{_safe(commit)}.json", raw)
        refs = self._read(folder / "refs.json") or {}
        refs[revision] = {"commit": commit, "at": time.time()}
        write_json_atomic(folder / "refs.json", refs)
