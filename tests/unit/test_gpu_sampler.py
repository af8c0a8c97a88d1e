"""The GPU sampler against a fake NVML built from a sample recorded on a real H100 (bench/nvml_sampler.py, with
nvidia-smi's view of the same moment), and against simulated DGX Spark answers."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pynvml

from spark_tui.hardware.host import read_meminfo
from spark_tui.metrics.gpu import GpuSampler

RECORD = json.loads((Path(__file__).resolve().parent.parent / "fixtures/nvml/sampler-h100.json").read_text())


def fake_nvml(memory_supported: bool = True, calls: list | None = None):
    real = RECORD["sample"][0]
    calls = calls if calls is not None else []

    def answer(name, value):
        def call(*args, **kwargs):
            calls.append(name)
            if value is NotImplemented:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
            return value
        return call

    memory = (SimpleNamespace(total=real["memory_total_bytes"], used=real["memory_used_bytes"]) if memory_supported
              else NotImplemented)
    return SimpleNamespace(
        NVMLError=pynvml.NVMLError, NVML_ERROR_NOT_SUPPORTED=pynvml.NVML_ERROR_NOT_SUPPORTED,
        nvmlMemory_v2=pynvml.nvmlMemory_v2, NVML_TEMPERATURE_GPU=0, NVML_CLOCK_SM=1, NVML_CLOCK_MEM=2,
        nvmlInit=lambda: None, nvmlShutdown=lambda: None, nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=answer("name", real["name"]),
        nvmlDeviceGetMemoryInfo=answer("memory", memory),
        nvmlDeviceGetUtilizationRates=answer("utilization", SimpleNamespace(gpu=real["utilization_pct"])),
        nvmlDeviceGetPowerUsage=answer("power", int(real["power_w"] * 1000)),
        nvmlDeviceGetEnforcedPowerLimit=answer("power_limit", int(real["power_limit_w"] * 1000)),
        nvmlDeviceGetTemperature=answer("temperature", real["temperature_c"]),
        nvmlDeviceGetClockInfo=answer("clock", real["sm_clock_mhz"]),
        nvmlDeviceGetComputeRunningProcesses=answer(
            "processes", [SimpleNamespace(pid=p["pid"], usedGpuMemory=p["used_bytes"]) for p in real["processes"]]),
    )


def test_h100_sample_matches_nvidia_smi_of_the_same_moment():
    sample = GpuSampler(fake_nvml()).sample()[0]
    util, used_mib, total_mib, power, temp, sm, _mem_clock = RECORD["nvidia_smi_gpu"].split(", ")
    assert sample.utilization_pct == int(util) and sample.temperature_c == int(temp)
    assert abs(sample.memory_used_bytes / 2**20 - int(used_mib)) <= 1
    assert sample.memory_total_bytes / 2**20 == int(total_mib)
    assert abs(sample.power_w - float(power)) < 0.01 and sample.sm_clock_mhz == int(sm)
    pid, app_mib = RECORD["nvidia_smi_apps"].split(", ")
    assert sample.processes[0].pid == int(pid) and sample.processes[0].used_bytes / 2**20 == int(app_mib)
    assert not sample.unified and sample.host is None


def test_one_sample_on_a_real_h100_costs_well_under_a_millisecond():
    assert RECORD["per_sample_ms"] < 1.0


def test_unified_memory_comes_from_the_host_and_not_supported_is_asked_once(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 127600748 kB\nMemFree: 20000000 kB\nMemAvailable: 100000000 kB\n"
                       "Cached: 78000000 kB\n")
    monkeypatch.setattr("spark_tui.metrics.gpu.read_meminfo", lambda: read_meminfo(str(meminfo)))
    calls: list[str] = []
    sampler = GpuSampler(fake_nvml(memory_supported=False, calls=calls))
    first = sampler.sample()[0]
    assert first.unified and first.memory_total_bytes == 127600748 * 1024
    assert first.memory_used_bytes == (127600748 - 100000000) * 1024
    assert first.host.cached == 78000000 * 1024 and first.host.free == 20000000 * 1024
    for _ in range(5):
        sampler.sample()
    assert calls.count("memory") == 1  # NOT_SUPPORTED: asked once, never polled again
    assert calls.count("power") == 6  # supported fields are read every tick


def test_no_driver_gives_no_samples():
    def broken_init():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)

    sampler = GpuSampler(SimpleNamespace(nvmlInit=broken_init, NVMLError=pynvml.NVMLError))
    assert sampler.sample() == [] and not sampler.available
