"""Fetch a model's metadata from the Hub (or HF_ENDPOINT) with huggingface_hub, in one parallel round:
the model API with file metadata, config.json and hf_quant_config.json. Every failure becomes a
SparkTuiError with one sentence for the user. huggingface_hub is imported here only: a cached check
never loads it.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from spark_tui.errors import (
    GatedModelError,
    HubUnavailableError,
    ModelDataError,
    ModelNotFoundError,
)

CONFIG_FILES = ("config.json", "hf_quant_config.json")


def current_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def _info_to_dict(info: Any) -> dict[str, Any]:
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
        "cardData": {"license": license_} if license_ else {},
        "siblings": [{"rfilename": s.rfilename, "size": s.size} for s in info.siblings or []],
        "safetensors": (
            {"parameters": dict(info.safetensors.parameters), "total": info.safetensors.total}
            if info.safetensors else None
        ),
        "lastModified": info.last_modified.isoformat() if info.last_modified else None,
    }


def _download_json(repo_id: str, filename: str, revision: str | None, timeout: float) -> tuple[Any, str | None]:
    """(parsed JSON or None if the file does not exist, commit it was served from)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        path = hf_hub_download(repo_id, filename, revision=revision, etag_timeout=timeout)
    except EntryNotFoundError:
        return None, None
    commit = Path(path).parent.name  # .../snapshots/<commit>/<filename>
    try:
        data = json.loads(Path(path).read_text())
    except ValueError as exc:
        raise ModelDataError(
            f"{filename} of {repo_id} is not valid JSON ({exc}).",
            "The repo's metadata is broken; tell its author or try another revision.",
        ) from None
    if not isinstance(data, dict):
        raise ModelDataError(f"{filename} of {repo_id} is not a JSON object.")
    return data, commit


def suggest(repo_id: str, timeout: float) -> list[str]:
    """Close matches for a mistyped id, from one or two Hub searches."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=current_endpoint())
    author, _, name = repo_id.rpartition("/")
    token = name.split("-")[0] or name
    candidates: list[str] = []
    try:
        if author:
            candidates += [m.id for m in api.list_models(author=author, limit=200)]
        if not candidates:
            candidates += [m.id for m in api.list_models(search=token, limit=200)]
    except Exception:  # suggestions are a courtesy; never fail the error message over them
        return []
    lower = {c.lower(): c for c in candidates}
    return [lower[m] for m in difflib.get_close_matches(repo_id.lower(), list(lower), n=3, cutoff=0.6)]


def fetch(repo_id: str, revision: str | None, timeout: float = 10.0) -> tuple[str, dict[str, Any]]:
    """(commit, raw metadata) for a Hub repo."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    quiet_hub()
    api = HfApi(endpoint=current_endpoint())
    with hub_errors(repo_id, revision, timeout), ThreadPoolExecutor(max_workers=3) as pool:
        info_f = pool.submit(api.model_info, repo_id, revision=revision, files_metadata=True, timeout=timeout)
        file_fs = [pool.submit(_download_json, repo_id, name, revision, timeout) for name in CONFIG_FILES]
        info = info_f.result()
        sha = info.sha
        results = []
        for name, future in zip(CONFIG_FILES, file_fs, strict=True):
            try:
                results.append(future.result())
            except (LocalEntryNotFoundError, HfHubHTTPError):
                if name == "config.json":
                    raise
                results.append((None, None))  # hf_quant_config.json is optional
        # The files raced a push: read them again at the commit the API answered with.
        if sha and any(commit and commit != sha for _, commit in results):
            results = [_download_json(repo_id, name, sha, timeout) for name in CONFIG_FILES]
    config, hf_quant = results[0][0], results[1][0]
    return sha or (revision or "main"), {"api": _info_to_dict(info), "config": config, "hf_quant_config": hf_quant}


def quiet_hub() -> None:
    """huggingface_hub's retry warnings and progress bars would print over the user's terminal (and the app's
    screen); failures are explained in our own words, progress is ours to show."""
    from huggingface_hub.utils import disable_progress_bars
    from huggingface_hub.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    disable_progress_bars()


@contextmanager
def hub_errors(repo_id: str, revision: str | None, timeout: float, cached: str = " and nothing is cached",
               local_files: bool = False) -> Iterator[None]:
    """huggingface_hub's exceptions → one sentence with a hint. `cached` ends the sentences about an unreachable
    Hub ("… and nothing is cached" for metadata; "" for a download). `local_files`: an OSError with an errno is
    about our own files (disk full, permissions), not the network, and goes up as it is."""
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = current_endpoint()
    try:
        yield
    except GatedRepoError:
        has_token = bool(os.environ.get("HF_TOKEN")) or _token_file_exists()
        raise GatedModelError(
            f"{repo_id} is gated and {'your token has no access' if has_token else 'no Hugging Face token is set'}.",
            f"Request access at {endpoint}/{repo_id}, then set HF_TOKEN (or run `hf auth login`).",
        ) from None
    except RevisionNotFoundError:
        raise ModelNotFoundError(
            f"{repo_id} has no revision '{revision}'.", "Check the branch, tag or commit name."
        ) from None
    except RepositoryNotFoundError:
        suggestions = suggest(repo_id, timeout)
        hint = f"Did you mean {', '.join(suggestions)}?" if suggestions else (
            "Check the id; if the repo is private, set HF_TOKEN.")
        raise ModelNotFoundError(f"No model '{repo_id}' on {endpoint}.", hint, suggestions) from None
    except ModelDataError:
        raise
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status == 429:
            raise HubUnavailableError(
                f"{endpoint} is rate-limiting requests (HTTP 429){cached}.",
                "Wait a minute and retry, or set HF_TOKEN for a higher limit.",
            ) from None
        raise HubUnavailableError(f"{endpoint} answered HTTP {status} for {repo_id}{cached}.", "Retry later.") from None
    except (OfflineModeIsEnabled, LocalEntryNotFoundError):
        raise HubUnavailableError(
            f"Offline mode is on and {repo_id} is not cached.", "Unset HF_HUB_OFFLINE, or run once online first."
        ) from None
    except (httpx2.TimeoutException, TimeoutError):
        raise HubUnavailableError(
            f"{endpoint} did not answer within {timeout:g} s{cached}.",
            "Check the network (or HF_ENDPOINT) and retry.",
        ) from None
    except (httpx2.HTTPError, OSError) as exc:
        if local_files and isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise HubUnavailableError(
            f"Cannot reach {endpoint} ({type(exc).__name__}){cached}.",
            "Check the network (or HF_ENDPOINT), or pass a local checkpoint directory.",
        ) from None


def _token_file_exists() -> bool:
    from huggingface_hub import get_token

    return get_token() is not None
