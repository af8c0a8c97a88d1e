"""Fetch a model's metadata from the Hub (or HF_ENDPOINT) with huggingface_hub, in one parallel round:
the model API with file metadata, config.json and hf_quant_config.json. Every failure becomes a
SparkTuiError with one sentence for the user. huggingface_hub is imported here only: a cached check
never loads it.

The whole round has one total deadline (huggingface_hub retries inside its calls: a dead or silent Hub could
otherwise hold a check for minutes). Only the Hub's own "no such file" answer means a file is missing.
"""

from __future__ import annotations

import difflib
import importlib
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from spark_tui.deadline import DeadlineExceeded, start_daemon
from spark_tui.errors import (
    GatedModelError,
    HubAccessError,
    HubAnswerError,
    HubUnavailableError,
    ModelDataError,
    ModelNotFoundError,
    SparkTuiError,
)

CONFIG_FILES = ("config.json", "hf_quant_config.json")
_COMMIT = re.compile(r"[0-9a-f]{40}")
T = TypeVar("T")


def current_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def hub_http() -> ModuleType:
    """The HTTP library huggingface_hub runs on, whose exceptions its calls raise: httpx2 from huggingface_hub 2.0,
    httpx in 1.x (the major vLLM's own environments often pin). Both majors are supported."""
    from huggingface_hub import __version__
    from packaging.version import Version

    return importlib.import_module("httpx" if Version(__version__).major < 2 else "httpx2")


def _malformed(repo_id: str, what: str) -> HubAnswerError:
    return HubAnswerError(
        f"{current_endpoint()} sent a malformed answer for {repo_id}: {what}; nothing was cached.",
        "Retry later; if it persists, check HF_ENDPOINT (a proxy or mirror may be answering instead of the Hub).",
    )


def _is_count(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)


def _info_to_dict(info: Any, repo_id: str) -> dict[str, Any]:
    """The API answer as plain data, checked: a wrong-shaped answer is an error here, not a crash later."""
    siblings = info.siblings or []
    checks = [
        (isinstance(info.sha, str) and _COMMIT.fullmatch(info.sha), "it names no commit"),  # what we cache under
        (all(isinstance(s.rfilename, str) and _is_count(s.size) for s in siblings), "a file's name or size is not one"),
        (_is_count(info.downloads) and _is_count(info.likes), "a count is not a number"),
        (isinstance(info.tags or [], list), "its tags are not a list"),
        (info.safetensors is None or (_is_count(info.safetensors.total)
                                      and isinstance(info.safetensors.parameters, dict)
                                      and all(_is_count(v) for v in info.safetensors.parameters.values())),
         "its parameter counts are not numbers"),
    ]
    for ok, what in checks:
        if not ok:
            raise _malformed(repo_id, what)
    card = info.card_data
    license_ = getattr(card, "license", None) if card is not None else None
    return {
        "id": info.id,
        "sha": info.sha,
        "private": info.private,
        "gated": info.gated,
        "downloads": info.downloads,
        "likes": info.likes,
        "tags": list(info.tags or []),
        "library_name": info.library_name,
        "pipeline_tag": info.pipeline_tag,
        "cardData": {"license": license_} if isinstance(license_, str) and license_ else {},
        "siblings": [{"rfilename": s.rfilename, "size": s.size} for s in siblings],
        "safetensors": (
            {"parameters": dict(info.safetensors.parameters), "total": info.safetensors.total}
            if info.safetensors else None
        ),
        "lastModified": info.last_modified.isoformat() if info.last_modified else None,
    }


def _model_info(repo_id: str, revision: str | None, timeout: float) -> dict[str, Any]:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        info = HfApi(endpoint=current_endpoint()).model_info(repo_id, revision=revision, files_metadata=True,
                                                              timeout=timeout)
    except HfHubHTTPError:
        raise  # an HTTP error answer: hub_errors words it
    # Not the API's JSON object: HTML, cut off, a list, null, "[" nested past Python's limit.
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        raise _malformed(repo_id, "the model API's answer is not the Hub's JSON") from None
    return _info_to_dict(info, repo_id)


def _download_json(repo_id: str, filename: str, revision: str | None, timeout: float) -> tuple[Any, str | None]:
    """(parsed JSON, commit it was served from); (None, None) only when the Hub answered that the file does not
    exist. A network failure or a 5xx (huggingface_hub's LocalEntryNotFoundError, which is an EntryNotFoundError
    too) goes up as an error: it must never be cached as "missing"."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import RemoteEntryNotFoundError

    try:
        path = hf_hub_download(repo_id, filename, revision=revision, etag_timeout=timeout, endpoint=current_endpoint())
    except RemoteEntryNotFoundError:
        return None, None
    commit = Path(path).parent.name  # .../snapshots/<commit>/<filename>
    not_a_config = f"{current_endpoint()} sent something that is not a config: {filename} of {repo_id}"
    hint = "If the repo's file is broken, tell its author or try another revision; if not, check HF_ENDPOINT."
    try:
        data = json.loads(Path(path).read_text())
    except ValueError as exc:  # HTML, cut off, not UTF-8
        raise ModelDataError(f"{not_a_config} is not valid JSON ({exc}).", hint) from None
    except RecursionError:
        raise ModelDataError(f"{not_a_config} is nested too deeply to be one.", hint) from None
    if not isinstance(data, dict):
        raise ModelDataError(f"{not_a_config} is not a JSON object.", hint)
    return data, commit


def _close_matches(repo_id: str) -> list[str]:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=current_endpoint())
    author, _, name = repo_id.rpartition("/")
    token = name.split("-")[0] or name
    candidates: list[str] = []
    if author:
        candidates += [m.id for m in api.list_models(author=author, limit=200)]
    if not candidates:
        candidates += [m.id for m in api.list_models(search=token, limit=200)]
    lower = {c.lower(): c for c in candidates if isinstance(c, str)}
    return [lower[m] for m in difflib.get_close_matches(repo_id.lower(), list(lower), n=3, cutoff=0.6)]


def suggest(repo_id: str, timeout: float) -> list[str]:
    """Close matches for a mistyped id, from one or two Hub searches, within `timeout` seconds."""
    from spark_tui.deadline import call_with_deadline

    if timeout <= 0:
        return []
    try:
        return call_with_deadline(lambda: _close_matches(repo_id), timeout)
    except Exception:  # suggestions are a courtesy; never fail (or hang) the error message over them
        return []


def fetch(repo_id: str, revision: str | None, timeout: float = 10.0) -> tuple[str, dict[str, Any]]:
    """(commit, raw metadata) for a Hub repo, within `timeout` seconds in all, huggingface_hub's retries included;
    a Hub that cannot be reached at all (refused, unknown host) is said at once (hub/reach.py)."""
    from spark_tui.hub.reach import call_hub

    quiet_hub()
    deadline = time.monotonic() + timeout
    with hub_errors(repo_id, revision, timeout, deadline=deadline):
        return call_hub(lambda: _fetch(repo_id, revision, timeout), timeout, name="spark-tui-hub",
                        endpoint=current_endpoint())


def _fetch(repo_id: str, revision: str | None, timeout: float) -> tuple[str, dict[str, Any]]:
    files = [start_daemon(lambda name=name: _download_json(repo_id, name, revision, timeout))  # type: ignore[misc]
             for name in CONFIG_FILES]
    # The API call is made here, not in a thread: it never retries, so its error (refused, 404, gated, 5xx) comes
    # first and at once, while the files may still sit in huggingface_hub's backoff (abandoned: daemon threads).
    api = _model_info(repo_id, revision, timeout)
    sha = api["sha"]
    results = [future.result() for future in files]
    # The files raced a push: read them again at the commit the API answered with.
    if any(commit and commit != sha for _, commit in results):
        results = [_download_json(repo_id, name, sha, timeout) for name in CONFIG_FILES]
    config, hf_quant = results[0][0], results[1][0]
    return sha, {"api": api, "config": config, "hf_quant_config": hf_quant}


def quiet_hub() -> None:
    """huggingface_hub's retry warnings and progress bars would print over the user's terminal (and the app's
    screen); failures are explained in our own words, progress is ours to show."""
    from huggingface_hub.utils import disable_progress_bars
    from huggingface_hub.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    disable_progress_bars()


@contextmanager
def hub_errors(repo_id: str, revision: str | None, timeout: float, cached: str = " and nothing is cached",
               local_files: bool = False, deadline: float | None = None) -> Iterator[None]:
    """huggingface_hub's exceptions → one sentence with a hint. `cached` ends the sentences about an unreachable
    Hub ("… and nothing is cached" for metadata; "" for a download). `local_files`: an OSError with an errno is
    about our own files (disk full, permissions), not the network, and goes up as it is. `deadline` (a
    time.monotonic() value) bounds the "did you mean" search after a 404; without one it gets `timeout`."""
    try:
        yield
    except SparkTuiError:
        raise
    except Exception as exc:
        error = _translate(exc, repo_id, revision, timeout, cached, local_files, deadline)
        if error is None:
            raise
        raise error from None


def _translate(exc: Exception, repo_id: str, revision: str | None, timeout: float, cached: str, local_files: bool,
               deadline: float | None) -> SparkTuiError | None:
    from huggingface_hub.errors import (
        FileMetadataError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    from spark_tui.hub.reach import HubUnreachable

    http = hub_http()
    endpoint = current_endpoint()
    if isinstance(exc, HubUnreachable):  # the look before the lookup: nothing there at all
        return HubUnavailableError(f"Cannot reach {endpoint} ({exc.reason}){cached}.",
                                   "Check the network (or HF_ENDPOINT), or pass a local checkpoint directory.")
    if isinstance(exc, LocalEntryNotFoundError) and isinstance(exc.__cause__, Exception) \
            and not isinstance(exc.__cause__, OfflineModeIsEnabled):
        exc = exc.__cause__  # the file's HEAD failed and nothing was cached: say why it failed
    if isinstance(exc, GatedRepoError):
        return GatedModelError(
            f"{repo_id} is gated and {'your token has no access' if _has_token() else 'no Hugging Face token is set'}.",
            f"Request access at {endpoint}/{repo_id}, then set HF_TOKEN (or run `hf auth login`).",
        )
    if isinstance(exc, RevisionNotFoundError):
        return ModelNotFoundError(f"{repo_id} has no revision '{revision}'.", "Check the branch, tag or commit name.")
    if isinstance(exc, RepositoryNotFoundError):
        left = timeout if deadline is None else min(timeout, deadline - time.monotonic())
        suggestions = suggest(repo_id, left)
        hint = f"Did you mean {', '.join(suggestions)}?" if suggestions else (
            "Check the id; if the repo is private, set HF_TOKEN.")
        return ModelNotFoundError(f"No model '{repo_id}' on {endpoint}.", hint, suggestions)
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        if status == 429:
            return HubUnavailableError(f"{endpoint} is rate-limiting requests (HTTP 429){cached}.",
                                       "Wait a minute and retry, or set HF_TOKEN for a higher limit.")
        if status in (401, 403):
            token = "the Hugging Face token in use was refused" if _has_token() else "no Hugging Face token is set"
            return HubAccessError(f"{endpoint} refused access to {repo_id} (HTTP {status}): {token}.",
                                  "Set HF_TOKEN to a token with read access to this repo (or run `hf auth login`).")
        return HubUnavailableError(f"{endpoint} answered HTTP {status} for {repo_id}{cached}.", "Retry later.")
    if isinstance(exc, (OfflineModeIsEnabled, LocalEntryNotFoundError)):
        return HubUnavailableError(f"Offline mode is on and {repo_id} is not cached.",
                                   "Unset HF_HUB_OFFLINE, or run once online first.")
    if isinstance(exc, DeadlineExceeded):  # our total deadline: silence, or huggingface_hub retrying 5xx answers
        return HubUnavailableError(f"{endpoint} gave no usable answer within {timeout:g} s{cached}.",
                                   "It may be down, overloaded or unreachable: check the network (or HF_ENDPOINT) "
                                   "and retry.")
    if isinstance(exc, (http.TimeoutException, TimeoutError)):
        return HubUnavailableError(f"{endpoint} did not answer within {timeout:g} s{cached}.",
                                   "Check the network (or HF_ENDPOINT) and retry.")
    if isinstance(exc, http.TooManyRedirects):
        return HubAnswerError(f"{endpoint} redirected in a loop for {repo_id}{cached}.",
                              "Check HF_ENDPOINT (and any proxy in between).")
    if isinstance(exc, http.RemoteProtocolError):
        return HubAnswerError(f"{endpoint} broke off its answer for {repo_id}{cached}.",
                              "Retry; if it persists, check the network (or HF_ENDPOINT).")
    if isinstance(exc, FileMetadataError):
        return HubAnswerError(f"{endpoint} does not answer like a Hugging Face Hub for {repo_id}{cached}.",
                              "Check HF_ENDPOINT (and any proxy in between).")
    if isinstance(exc, (http.HTTPError, OSError)):
        if local_files and isinstance(exc, OSError) and exc.errno is not None:
            return None
        return HubUnavailableError(f"Cannot reach {endpoint} ({type(exc).__name__}){cached}.",
                                   "Check the network (or HF_ENDPOINT), or pass a local checkpoint directory.")
    return None


def _has_token() -> bool:
    from huggingface_hub import get_token

    return bool(os.environ.get("HF_TOKEN")) or get_token() is not None
