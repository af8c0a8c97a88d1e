"""HardwareFacts: the machine the advice is for, probed or taken from a profile."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HardwareFacts:
    """The machine being planned for: probed, or a named profile."""

    name: str  # profile id (gb10, h100, ...) or the GPU name NVML reports
    gpu_name: str | None
    gpus: int
    compute_capability: str | None  # "12.1"
    unified_memory: bool
    memory_bytes: int | None  # per GPU, as CUDA reports its total (the unified pool on GB10)
    bandwidth_gbps: float | None  # per GPU, GB/s
    source: str  # "probe" or "profile"
    profile: str | None = None  # the matching profile id, if any
    driver_version: str | None = None
    cuda_version: str | None = None
    host_memory_total_bytes: int | None = None
    host_memory_available_bytes: int | None = None  # MemAvailable: what vLLM's start-up check reads on UMA
    host_memory_free_bytes: int | None = None
    host_page_cache_bytes: int | None = None
    memory_used_bytes: int | None = None
    recommended_gpu_memory_utilization: float | None = None
    notes: tuple[str, ...] = ()
    nodes: int = 1  # machines like this one, planned together (vLLM's multi-node serving); `gpus` is per node
    interconnect_gbps: float | None = None  # the network between the nodes, GB/s per node

    @property
    def cc_version(self) -> str | None:
        return self.compute_capability
