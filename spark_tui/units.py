"""Sizes and durations as people read them, the same in the CLI and the app."""

from __future__ import annotations


def human_bytes(n: float) -> str:
    """1536 → '1.5 KiB'; binary units, one decimal."""
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def human_age(seconds: float | None) -> str:
    """90 → '1m30s', 7200 → '2h00m', 3 days → '3d'; None → '—'."""
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d"
