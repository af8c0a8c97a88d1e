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


def _search(query: str, limit: int) -> list[SearchHit]:
    from huggingface_hub import HfApi  # only when the user searches

    from spark_tui.hub.fetch import current_endpoint

    found = HfApi(endpoint=current_endpoint()).list_models(search=query, sort="downloads", limit=limit)
    return [SearchHit(m.id, m.downloads, m.likes, bool(m.gated)) for m in found]


def search_models(query: str, limit: int = 30, timeout: float | None = None) -> list[SearchHit]:
    """Models whose id matches `query`, most downloaded first, within `timeout` seconds (SPARK_TUI_HUB_TIMEOUT)."""
    from spark_tui.deadline import DeadlineExceeded
    from spark_tui.hub import hub_timeout
    from spark_tui.hub.fetch import current_endpoint, quiet_hub
    from spark_tui.hub.reach import HubUnreachable, call_hub

    quiet_hub()
    seconds = hub_timeout() if timeout is None else timeout
    try:  # a Hub that is not there at all is said at once: list_models would retry it for 23 s
        return call_hub(lambda: _search(query, limit), seconds, name="spark-tui-search", endpoint=current_endpoint())
    except DeadlineExceeded:
        raise HubUnavailableError(f"Search failed: {current_endpoint()} gave no usable answer within {seconds:g} s.",
                                  "Check the network (or HF_ENDPOINT).") from None
    except HubUnreachable as exc:
        raise HubUnavailableError(f"Search failed: cannot reach {current_endpoint()} ({exc.reason}).",
                                  "Check the network (or HF_ENDPOINT).") from None
    except Exception as exc:  # any transport or HTTP failure: one sentence for the row/notification
        raise HubUnavailableError(f"Search failed: cannot reach {current_endpoint()} ({type(exc).__name__}).",
                                  "Check the network (or HF_ENDPOINT).") from None
