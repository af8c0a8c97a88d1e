"""Hugging Face metadata → ModelFacts, through a cache; or a local checkpoint directory."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from spark_tui.errors import HubUnavailableError, UsageError
from spark_tui.hub.cache import DEFAULT_TTL_SECONDS, MetadataCache
from spark_tui.hub.facts import ModelFacts, build_model_facts
from spark_tui.hub.gguf_load import GGUFPick, local_gguf_file, with_hub_gguf, with_local_gguf
from spark_tui.paths import cache_dir

__all__ = ["ModelFacts", "build_model_facts", "hub_timeout", "is_offline", "load_model_facts", "validate_repo_id"]

_REPO_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}$")


def _shown(text: str, limit: int = 60) -> str:
    """A user's input as it appears in a sentence: a 10,000-character id must not become the sentence."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def validate_repo_id(model: str) -> None:
    if not model.strip():
        raise UsageError("No model given: name a Hugging Face model id (owner/name) or a checkpoint directory.",
                         "Example: spark-tui check RedHatAI/Qwen3-8B-NVFP4")
    if not _REPO_ID.match(model) or ".." in model or model.endswith((".", "-")):
        raise UsageError(
            f"'{_shown(model)}' is neither a Hugging Face model id (owner/name) nor an existing directory.",
            "Example: spark-tui check RedHatAI/Qwen3-8B-NVFP4",
        )


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # e.g. a name too long for the file system: then it is no directory of ours either
        return False


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def _ttl() -> float:
    try:
        return float(os.environ.get("SPARK_TUI_HUB_TTL", DEFAULT_TTL_SECONDS))
    except ValueError:
        return DEFAULT_TTL_SECONDS


def hub_timeout() -> float:
    """SPARK_TUI_HUB_TIMEOUT: the total seconds one Hub lookup may take, retries included (default 10)."""
    try:
        seconds = float(os.environ.get("SPARK_TUI_HUB_TIMEOUT", "10"))
    except ValueError:
        return 10.0
    return seconds if 0 < seconds < float("inf") else 10.0


def load_model_facts(model: str, revision: str | None = None, *, offline: bool = False,
                     refresh: bool = False, gguf_file: str | None = None, quant: str | None = None) -> ModelFacts:
    """Facts for a Hub id, a local directory or a local .gguf file. Cached answers come first; the network only
    when needed. `gguf_file` / `quant` pick a GGUF variant (else llama.cpp's `-hf` default)."""
    if not model.strip():  # Path("") is the current folder: never plan that by accident
        validate_repo_id(model)
    path = Path(model).expanduser()
    pick = GGUFPick(gguf_file, quant)
    if _is_dir(path):
        from spark_tui.hub.local import read_local

        raw = read_local(path)
        facts = build_model_facts(str(path.resolve()), source="local", revision=None, api=raw["api"],
                                  config=raw["config"], hf_quant_config=raw["hf_quant_config"], files=raw["files"])
        return with_local_gguf(facts, path, raw["files"], raw["config"] is None, pick)
    if path.suffix.lower() == ".gguf" and _is_file(path):
        return local_gguf_file(path, pick)
    if model.startswith((".", "/", "~")):
        raise UsageError(f"No such directory or .gguf file: {_shown(model)}.")
    validate_repo_id(model)
    offline = offline or is_offline()
    wanted = revision or "main"
    cache = MetadataCache(cache_dir() / "hub", _endpoint())
    if not refresh:
        commit = cache.resolve(model, wanted, max_age=None if offline else _ttl())
        cached = cache.load(model, commit) if commit else None
        if cached is not None and commit is not None:
            known, data = commit, cached
            return with_hub_gguf(_facts(model, known, data), model, known, data, pick, offline=offline,
                                 store=lambda: cache.store(model, wanted, known, data), timeout=hub_timeout())
    if offline:
        raise HubUnavailableError(
            f"Offline, and {model}{'@' + revision if revision else ''} is not in spark-tui's cache.",
            "Run the check once online first (or drop --offline / HF_HUB_OFFLINE).",
        )
    from spark_tui.hub.fetch import fetch  # imports huggingface_hub: only on a cache miss

    commit, raw = fetch(model, revision, timeout=hub_timeout())
    facts = _facts(model, commit, raw)
    # Only what could be used is stored (a bad answer never is); a full or read-only cache disk costs the next
    # check its speed, not this answer.
    with contextlib.suppress(OSError):
        cache.store(model, wanted, commit, raw)
    fetched = commit
    return with_hub_gguf(facts, model, fetched, raw, pick, offline=False,
                         store=lambda: cache.store(model, wanted, fetched, raw), timeout=hub_timeout())


def _facts(model: str, commit: str | None, raw: dict) -> ModelFacts:
    return build_model_facts(model, source="hub", revision=commit, api=raw.get("api"), config=raw.get("config"),
                             hf_quant_config=raw.get("hf_quant_config"))
