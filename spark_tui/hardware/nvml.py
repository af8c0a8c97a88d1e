"""The NVML funnel: every NVML call goes through `_query`, which turns errors into None.

No driver (a laptop, CI) is normal: `probe()` returns None. On DGX Spark (GB10, unified
memory) nvmlDeviceGetMemoryInfo answers NOT_SUPPORTED (or a zero total); that is recorded
as `memory_supported=False` and the caller takes the pool from the host instead.
The `nvml` module is injectable so tests can replay a recorded probe.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str | None
    compute_capability: tuple[int, int] | None
    memory_total: int | None  # None when NVML cannot report it (unified memory)
    memory_reserved: int | None  # driver-reserved part of the total (v2 API), not usable by CUDA
    memory_used: int | None
    memory_supported: bool


@dataclass(frozen=True)
class NvmlProbe:
    driver_version: str | None
    cuda_version: str | None  # "13.0"
    gpus: tuple[GpuInfo, ...]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _query(nvml: Any, fn: str, *args: Any) -> Any:
    """Call nvml.<fn>(*args); any NVML error (or a missing function) gives None."""
    func = getattr(nvml, fn, None)
    if func is None:
        return None
    try:
        return func(*args)
    except nvml.NVMLError:
        return None


def _memory(nvml: Any, handle: Any) -> tuple[int | None, int | None, int | None, bool]:
    """(total, reserved, used, supported) — NOT_SUPPORTED or a zero total means unified memory."""
    try:
        info = nvml.nvmlDeviceGetMemoryInfo(handle, version=nvml.nvmlMemory_v2)
        reserved = getattr(info, "reserved", None)
    except TypeError:  # older bindings without the version argument
        info, reserved = None, None
    except nvml.NVMLError:
        info, reserved = None, None
    if info is None:
        try:
            info = nvml.nvmlDeviceGetMemoryInfo(handle)
        except nvml.NVMLError:
            return None, None, None, False
    total = int(getattr(info, "total", 0) or 0)
    if total == 0:
        return None, None, None, False
    return total, (int(reserved) if reserved is not None else None), int(info.used), True


def probe(nvml: Any = None) -> NvmlProbe | None:
    if nvml is None:
        try:
            import pynvml  # nvidia-ml-py; imported here because only `hw`/auto-detect needs it
        except ImportError:
            return None
        nvml = pynvml
    try:
        nvml.nvmlInit()
    except Exception:  # no library, no driver, insufficient permissions: not an error for us
        return None
    try:
        driver = _text(_query(nvml, "nvmlSystemGetDriverVersion"))
        cuda_raw = _query(nvml, "nvmlSystemGetCudaDriverVersion_v2") or _query(nvml, "nvmlSystemGetCudaDriverVersion")
        cuda = f"{cuda_raw // 1000}.{(cuda_raw % 1000) // 10}" if isinstance(cuda_raw, int) and cuda_raw else None
        count = _query(nvml, "nvmlDeviceGetCount") or 0
        gpus = []
        for index in range(count):
            handle = _query(nvml, "nvmlDeviceGetHandleByIndex", index)
            if handle is None:
                continue
            cc = _query(nvml, "nvmlDeviceGetCudaComputeCapability", handle)
            total, reserved, used, supported = _memory(nvml, handle)
            gpus.append(
                GpuInfo(
                    index=index,
                    name=_text(_query(nvml, "nvmlDeviceGetName", handle)),
                    compute_capability=(int(cc[0]), int(cc[1])) if cc else None,
                    memory_total=total,
                    memory_reserved=reserved,
                    memory_used=used,
                    memory_supported=supported,
                )
            )
        return NvmlProbe(driver, cuda, tuple(gpus))
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
