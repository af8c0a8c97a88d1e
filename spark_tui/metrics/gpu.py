"""GPU samples through NVML, cheap enough to take every second: utilisation, memory (the host pool on unified
memory, where NVML has none), memory per process, power, temperature, clocks.

A field NVML answers NOT_SUPPORTED for is asked once and then reported as None ("n/a") without calling NVML
again; other NVML errors give None for that tick only. The `nvml` module is injectable for tests.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from spark_tui.hardware.host import HostMemory, read_meminfo


@dataclass(frozen=True)
class ProcessMemory:
    pid: int
    used_bytes: int | None


@dataclass(frozen=True)
class GpuSample:
    t: float
    index: int
    name: str | None
    unified: bool
    utilization_pct: int | None
    memory_used_bytes: int | None
    memory_total_bytes: int | None
    power_w: float | None
    power_limit_w: float | None
    temperature_c: int | None
    sm_clock_mhz: int | None
    memory_clock_mhz: int | None
    processes: tuple[ProcessMemory, ...]
    host: HostMemory | None  # on unified memory: MemAvailable, MemFree and page cache, shown separately


class GpuSampler:
    def __init__(self, nvml: Any = None) -> None:
        self._nvml = nvml
        self._ready = False
        self._handles: list[Any] = []
        self.unsupported: set[tuple[int, str]] = set()
        self.available = True

    def _init(self) -> None:
        if self._ready:
            return
        self._ready = True
        if self._nvml is None:
            try:
                import pynvml  # nvidia-ml-py: loaded by the sampler only

                self._nvml = pynvml
            except ImportError:
                self.available = False
                return
        try:
            self._nvml.nvmlInit()
            count = self._nvml.nvmlDeviceGetCount()
            self._handles = [self._nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except Exception:  # no driver: nothing to sample, not an error
            self.available = False

    def _ask(self, index: int, field: str, call: Any, *args: Any) -> Any:
        if (index, field) in self.unsupported:
            return None
        nvml = self._nvml
        try:
            return call(*args)
        except nvml.NVMLError as exc:
            if getattr(exc, "value", None) == nvml.NVML_ERROR_NOT_SUPPORTED:
                self.unsupported.add((index, field))
            return None

    def sample(self) -> list[GpuSample]:
        self._init()
        if not self.available:
            return []
        nvml, now = self._nvml, time.time()
        samples = []
        host: HostMemory | None = None
        for index, handle in enumerate(self._handles):
            name = self._ask(index, "name", nvml.nvmlDeviceGetName, handle)
            name = name.decode() if isinstance(name, bytes) else name
            # The v2 API reports `used` without the driver's reservation, as nvidia-smi shows it.
            memory = self._ask(index, "memory", _memory_v2, nvml, handle)
            unified = memory is None or not getattr(memory, "total", 0)
            if unified:
                host = host or read_meminfo()
            util = self._ask(index, "utilization", nvml.nvmlDeviceGetUtilizationRates, handle)
            power = self._ask(index, "power", nvml.nvmlDeviceGetPowerUsage, handle)
            limit = self._ask(index, "power_limit", nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
            processes = self._ask(index, "processes", nvml.nvmlDeviceGetComputeRunningProcesses, handle) or []
            samples.append(GpuSample(
                t=now, index=index, name=name, unified=unified,
                utilization_pct=getattr(util, "gpu", None),
                memory_used_bytes=(host.total - host.available if host else None) if unified else int(memory.used),
                memory_total_bytes=(host.total if host else None) if unified else int(memory.total),
                power_w=None if power is None else power / 1000.0,
                power_limit_w=None if limit is None else limit / 1000.0,
                temperature_c=self._ask(index, "temperature", nvml.nvmlDeviceGetTemperature, handle,
                                        nvml.NVML_TEMPERATURE_GPU),
                sm_clock_mhz=self._ask(index, "sm_clock", nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM),
                memory_clock_mhz=self._ask(index, "memory_clock", nvml.nvmlDeviceGetClockInfo, handle,
                                           nvml.NVML_CLOCK_MEM),
                processes=tuple(ProcessMemory(int(p.pid), _bytes(getattr(p, "usedGpuMemory", None)))
                                for p in processes),
                host=host if unified else None,
            ))
        return samples

    def close(self) -> None:
        if self._ready and self.available and self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
        self._ready = False


def _memory_v2(nvml: Any, handle: Any) -> Any:
    try:
        return nvml.nvmlDeviceGetMemoryInfo(handle, version=nvml.nvmlMemory_v2)
    except TypeError:  # bindings without the version argument
        return nvml.nvmlDeviceGetMemoryInfo(handle)


def _bytes(value: Any) -> int | None:
    # NVML reports "not available" per process as None (or a huge sentinel on some drivers).
    if value is None or not isinstance(value, int) or value >= 2**63:
        return None
    return value
