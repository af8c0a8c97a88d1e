"""What the app knows about each model row: plain data, computed advice cached per hardware/options."""

from __future__ import annotations

from dataclasses import dataclass, field

from spark_tui.advisor.types import Advice
from spark_tui.hub.facts import ModelFacts


@dataclass
class ModelRow:
    id: str
    origin: str  # "catalog" or "search"
    use_case: str = ""
    facts: ModelFacts | None = None
    error: str | None = None  # why it could not be judged (gated, gone, offline…)
    loading: bool = True
    stale: bool = False  # shown from cache while the Hub refresh has not answered
    downloads: int | None = None
    likes: int | None = None
    advice: Advice | None = None
    max_model_len: int | None = None  # the user's override in the detail screen
    gpu_memory_utilization: float | None = None
    notes: list[str] = field(default_factory=list)
