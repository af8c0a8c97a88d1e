"""Host memory from /proc/meminfo (psutil elsewhere): the GPU's pool on unified-memory machines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HostMemory:
    total: int
    available: int  # MemAvailable: free + reclaimable page cache
    free: int  # MemFree
    cached: int  # page cache (Cached)


def read_meminfo(path: str = "/proc/meminfo") -> HostMemory | None:
    try:
        text = Path(path).read_text()
    except OSError:
        return _from_psutil()
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key] = int(parts[0]) * (1024 if len(parts) > 1 and parts[1] == "kB" else 1)
    if "MemTotal" not in values:
        return _from_psutil()
    return HostMemory(
        total=values["MemTotal"],
        available=values.get("MemAvailable", values.get("MemFree", 0)),
        free=values.get("MemFree", 0),
        cached=values.get("Cached", 0),
    )


def _from_psutil() -> HostMemory | None:
    try:
        import psutil  # fallback for systems without /proc/meminfo
    except ImportError:
        return None
    vm = psutil.virtual_memory()
    return HostMemory(total=vm.total, available=vm.available, free=vm.free, cached=getattr(vm, "cached", 0))
