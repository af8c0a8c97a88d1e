"""Hardware profiles (rules/hardware/*.toml) for planning without the hardware."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from spark_tui.errors import RulesError
from spark_tui.paths import data_dir

GIB = 1024**3


@dataclass(frozen=True)
class HardwareProfile:
    """A known GPU or system, as shipped in hardware.toml."""

    id: str
    title: str
    compute_capability: str
    unified_memory: bool
    memory_bytes: int
    bandwidth_gbps: float
    match: tuple[str, ...]
    recommended_gpu_memory_utilization: float | None
    memory_source: str
    interconnect_gbps: float | None = None  # the network between two such machines, GB/s each way


_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "title": str, "compute_capability": str, "unified_memory": bool, "memory_gib": (int, float),
    "bandwidth_gbps": (int, float),
}
_OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "match": list, "recommended_gpu_memory_utilization": (int, float), "memory_source": str,
    "interconnect_gbps": (int, float), "interconnect_source": str,
}


def load_profiles(folder: Path | None = None) -> dict[str, HardwareProfile]:
    from spark_tui.datacache import cached

    folder = folder or data_dir() / "hardware"
    return cached("profiles", [Path(__file__), folder], lambda: _parse_profiles(folder), dict)


def _parse_profiles(folder: Path) -> dict[str, HardwareProfile]:
    profiles: dict[str, HardwareProfile] = {}
    problems: list[str] = []
    import tomllib

    for path in sorted(folder.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"{path}: {exc}")
            continue
        for pid, body in data.items():
            if not isinstance(body, dict):
                problems.append(f"{path}: [{pid}] must be a table")
                continue
            bad = [k for k in body if k not in _REQUIRED and k not in _OPTIONAL]
            missing = [k for k in _REQUIRED if k not in body]
            wrong = [k for k, t in {**_REQUIRED, **_OPTIONAL}.items() if k in body and not isinstance(body[k], t)]
            if bad or missing or wrong:
                problems.append(f"{path}: [{pid}] unknown keys {bad}, missing {missing}, wrong types {wrong}")
                continue
            profiles[pid] = HardwareProfile(
                id=pid,
                title=body["title"],
                compute_capability=body["compute_capability"],
                unified_memory=body["unified_memory"],
                memory_bytes=int(float(body["memory_gib"]) * GIB),
                bandwidth_gbps=float(body["bandwidth_gbps"]),
                match=tuple(body.get("match", [])),
                recommended_gpu_memory_utilization=body.get("recommended_gpu_memory_utilization"),
                memory_source=body.get("memory_source", ""),
                interconnect_gbps=float(body["interconnect_gbps"]) if "interconnect_gbps" in body else None,
            )
    if problems:
        raise RulesError("The hardware profiles could not be loaded.", problems)
    return profiles


def match_profile(gpu_name: str, profiles: dict[str, HardwareProfile]) -> HardwareProfile | None:
    for profile in profiles.values():
        if any(re.search(p, gpu_name, re.IGNORECASE) for p in profile.match):
            return profile
    return None
