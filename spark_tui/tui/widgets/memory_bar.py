"""A bar of one GPU's memory: weights / overhead / KV cache (one max-model-len request marked) / left free."""

from __future__ import annotations

from rich.text import Text

from spark_tui.advisor.types import MemoryPlan

GIB = 1024**3
# Each segment has its own fill character as well as its colour, so the bar reads the same under NO_COLOR.
SEGMENTS = (("weights", "█", "blue"), ("overhead", "▓", "magenta"), ("one request", "▒", "cyan"),
            ("rest of KV cache", "░", "green"), ("free", "·", "grey50"))


def memory_bar(plan: MemoryPlan, width: int = 60) -> Text:
    """The bar, then a legend. One request at max-model-len is the bright part of the KV cache."""
    total = max(plan.total_bytes, 1)
    weights = min(plan.weights_bytes, total)
    overhead = min(plan.overhead_bytes, max(total - weights, 0))
    kv = min(plan.kv_cache_bytes, max(total - weights - overhead, 0))
    one = 0
    if plan.kv_bytes_per_token and plan.max_model_len:
        one = min(plan.kv_bytes_per_token * plan.max_model_len, kv)
    sizes = [weights, overhead, one, kv - one, max(total - weights - overhead - kv, 0)]
    cells = [round(width * s / total) for s in sizes]
    if one and not cells[2]:
        cells[2] = 1  # always visible when there is one
    cells[-1] = max(width - sum(cells[:-1]), 0)
    bar = Text()
    for (_name, fill, colour), count in zip(SEGMENTS, cells, strict=True):
        bar.append(fill * count, style=colour)
    bar.append("\n")
    for (name, fill, colour), size in zip(SEGMENTS, sizes, strict=True):
        bar.append(f"{fill} ", style=colour)
        bar.append(f"{name} {size / GIB:.1f} GiB  ")
    if plan.weights_bytes + plan.overhead_bytes > plan.budget_bytes:
        bar.append("\nweights + overhead exceed the budget", style="bold red")
    return bar
