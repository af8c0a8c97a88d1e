"""Each server's recent /metrics samples, kept on disk so every process sees the same history: `ps` run twice,
`bench` before and after its load, and the app's once-a-second poll all add to it and read rates from it."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from spark_tui.metrics.scrape import MetricsSample, rates

KEEP_S = 120.0  # two minutes: the widest window anyone reads (ps: 60 s)


class RateHistory:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, name: str) -> Path:
        return self.folder / f"{name}.json"  # names are validated server names (engines/validate.py)

    def samples(self, name: str) -> list[MetricsSample]:
        try:
            data = json.loads(self._path(name).read_text())
        except (OSError, ValueError):
            return []
        raw = data.get("samples", []) if isinstance(data, dict) else []
        found = []
        for item in raw if isinstance(raw, list) else []:
            with contextlib.suppress(TypeError):  # a damaged entry costs that entry
                found.append(MetricsSample(**item))
        return found

    def add(self, name: str, sample: MetricsSample) -> list[MetricsSample]:
        """Add a sample; the history of the last two minutes, this one last."""
        from spark_tui.errors import StateWriteError
        from spark_tui.files import write_json_atomic

        history = [s for s in self.samples(name) if 0 <= sample.t - s.t <= KEEP_S] + [sample]
        with contextlib.suppress(OSError, StateWriteError):  # a full disk costs the history on disk, not the numbers
            write_json_atomic(self._path(name), {"samples": [s.to_json() for s in history]})
        return history

    def rates(self, name: str, window_s: float) -> tuple[float, float] | None:
        """(generation, prompt) tokens/s over the window; None with fewer than two samples."""
        history = self.samples(name)
        return rates(history, window_s) if len(history) >= 2 else None
