"""Search the Hub for models (huggingface_hub's list_models), as plain data for the app."""

from __future__ import annotations

from dataclasses import dataclass

from spark_tui.errors import HubUnavailableError


@dataclass(frozen=True)
class SearchHit:
    id: str
    downloads: int | None
    likes: int | None
    gated: bool


def search_models(query: str, limit: int = 30) -> list[SearchHit]:
    """Models whose id matches `query`, most downloaded first."""
    from huggingface_hub import HfApi  # only when the user searches
    from huggingface_hub.utils import logging as hf_logging

    from spark_tui.hub.fetch import current_endpoint

    hf_logging.set_verbosity_error()
    api = HfApi(endpoint=current_endpoint())
    try:
        found = api.list_models(search=query, sort="downloads", limit=limit)
        return [SearchHit(m.id, m.downloads, m.likes, bool(m.gated)) for m in found]
    except Exception as exc:  # any transport or HTTP failure: one sentence for the row/notification
        raise HubUnavailableError(f"Search failed: cannot reach {current_endpoint()} ({type(exc).__name__}).",
                                  "Check the network (or HF_ENDPOINT).") from None
