"""Hardware: probe the local machine (NVML + host memory) or take a profile → HardwareFacts."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from spark_tui.errors import UsageError
from spark_tui.hardware.facts import HardwareFacts
from spark_tui.hardware.profiles import GIB, HardwareProfile, load_profiles, match_profile

if TYPE_CHECKING:
    from spark_tui.hardware.host import HostMemory
    from spark_tui.hardware.nvml import NvmlProbe

DEFAULT_PLANNING_PROFILE = "gb10"

__all__ = ["HardwareFacts", "describe_probe", "from_profile", "resolve_hardware"]


def from_profile(profile: HardwareProfile, host: HostMemory | None = None) -> HardwareFacts:
    return HardwareFacts(
        name=profile.id,
        gpu_name=profile.title,
        gpus=1,
        compute_capability=profile.compute_capability,
        unified_memory=profile.unified_memory,
        memory_bytes=profile.memory_bytes,
        bandwidth_gbps=profile.bandwidth_gbps,
        source="profile",
        profile=profile.id,
        recommended_gpu_memory_utilization=profile.recommended_gpu_memory_utilization,
        interconnect_gbps=profile.interconnect_gbps,
    )


def describe_probe(probe: NvmlProbe, host: HostMemory | None, profiles: dict[str, HardwareProfile]) -> HardwareFacts:
    """HardwareFacts for a machine NVML answered on (GPU 0 describes the set; all GPUs are counted)."""
    gpu = probe.gpus[0]
    profile = match_profile(gpu.name or "", profiles)
    notes: list[str] = []
    unified = not gpu.memory_supported or bool(profile and profile.unified_memory)
    if unified:
        # NVML has no figure on unified memory (NOT_SUPPORTED on GB10): the pool is the host's memory.
        memory = host.total if host else (profile.memory_bytes if profile else None)
        used = (host.total - host.available) if host else None
        notes.append("unified memory: NVML reports no GPU memory; the pool is host memory (MemTotal/MemAvailable)")
    else:
        # CUDA's total excludes the driver's reservation that NVML's v2 API reports separately.
        memory = (gpu.memory_total - (gpu.memory_reserved or 0)) if gpu.memory_total else None
        used = gpu.memory_used
    cc = f"{gpu.compute_capability[0]}.{gpu.compute_capability[1]}" if gpu.compute_capability else None
    if cc is None and profile:
        cc = profile.compute_capability
    if profile is None:
        notes.append(f"no profile matches '{gpu.name}': memory bandwidth unknown, so no tokens/s bound")
    return HardwareFacts(
        name=profile.id if profile else (gpu.name or "unknown GPU"),
        gpu_name=gpu.name,
        gpus=len(probe.gpus),
        compute_capability=cc,
        unified_memory=unified,
        memory_bytes=memory,
        bandwidth_gbps=profile.bandwidth_gbps if profile else None,
        source="probe",
        profile=profile.id if profile else None,
        driver_version=probe.driver_version,
        cuda_version=probe.cuda_version,
        host_memory_total_bytes=host.total if host else None,
        host_memory_available_bytes=host.available if host else None,
        host_memory_free_bytes=host.free if host else None,
        host_page_cache_bytes=host.cached if host else None,
        memory_used_bytes=used,
        recommended_gpu_memory_utilization=profile.recommended_gpu_memory_utilization if profile else None,
        notes=tuple(notes),
        interconnect_gbps=profile.interconnect_gbps if profile else None,
    )


def resolve_hardware(
    name: str = "auto",
    *,
    gpus: int | None = None,
    gpu_memory_gib: float | None = None,
    nvml: Any = None,
    profiles: dict[str, HardwareProfile] | None = None,
) -> HardwareFacts:
    """`auto` probes this machine (falling back to the gb10 profile with no NVIDIA GPU); else a profile."""
    profiles = profiles if profiles is not None else load_profiles()
    if gpus is not None and not 1 <= gpus <= 64:
        raise UsageError(f"--gpus must be between 1 and 64, not {gpus}.")
    if gpu_memory_gib is not None and not 0.5 <= gpu_memory_gib <= 4096:
        raise UsageError(f"--gpu-memory-gib must be between 0.5 and 4096, not {gpu_memory_gib:g}.")
    if name == "auto":
        from spark_tui.hardware import nvml as nvml_probe
        from spark_tui.hardware.host import read_meminfo

        probe = nvml_probe.probe(nvml)
        host = read_meminfo()
        if probe and probe.gpus:
            facts = describe_probe(probe, host, profiles)
        else:
            facts = replace(
                from_profile(profiles[DEFAULT_PLANNING_PROFILE]),
                notes=(f"no NVIDIA GPU found here: planning for the {DEFAULT_PLANNING_PROFILE} profile "
                       "(choose another with --hardware)",),
            )
    else:
        key = name.lower()
        if key not in profiles:
            import difflib

            close = difflib.get_close_matches(key, list(profiles), n=3)
            hint = f"Did you mean {', '.join(close)}?" if close else f"Known: {', '.join(sorted(profiles))}."
            raise UsageError(f"Unknown hardware profile '{name}'.", hint)
        facts = from_profile(profiles[key])
    if gpus is not None:
        facts = replace(facts, gpus=gpus)
    if gpu_memory_gib is not None:
        facts = replace(facts, memory_bytes=int(gpu_memory_gib * GIB))
    return facts
