"""Stand-ins for the pynvml module: a replay of a probe recorded on a real GPU (bench/record_nvml.py),
and simulations of DGX Spark (memory NOT_SUPPORTED) and of a machine without a driver.
They use the real pynvml exception classes, so the probe's error handling is exercised for real."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nvml"


def _raise(name: str) -> None:
    code = {"NVMLError_NotSupported": pynvml.NVML_ERROR_NOT_SUPPORTED,
            "NVMLError_DriverNotLoaded": pynvml.NVML_ERROR_DRIVER_NOT_LOADED,
            "NVMLError_LibraryNotFound": pynvml.NVML_ERROR_LIBRARY_NOT_FOUND}.get(name, pynvml.NVML_ERROR_UNKNOWN)
    raise pynvml.NVMLError(code)


def _answer(value: Any) -> Any:
    if isinstance(value, dict) and "error" in value:
        _raise(value["error"])
    if isinstance(value, dict):
        return SimpleNamespace(**value)
    return value


def replay(record: dict[str, Any]) -> SimpleNamespace:
    """A pynvml look-alike answering exactly what the recording says."""
    devices = record["devices"]
    calls: list[str] = []

    def device_call(name: str):
        def call(handle: int, *args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            key = "nvmlDeviceGetMemoryInfo_v2" if name == "nvmlDeviceGetMemoryInfo" and kwargs.get("version") else name
            return _answer(devices[handle][key])
        return call

    def init() -> None:
        if "nvmlInit" in record:
            _raise(record["nvmlInit"]["error"])

    return SimpleNamespace(
        NVMLError=pynvml.NVMLError,
        nvmlMemory_v2=pynvml.nvmlMemory_v2,
        nvmlInit=init,
        nvmlShutdown=lambda: None,
        nvmlSystemGetDriverVersion=lambda: _answer(record["nvmlSystemGetDriverVersion"]),
        nvmlSystemGetCudaDriverVersion_v2=lambda: _answer(record["nvmlSystemGetCudaDriverVersion_v2"]),
        nvmlDeviceGetCount=lambda: _answer(record["nvmlDeviceGetCount"]),
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=device_call("nvmlDeviceGetName"),
        nvmlDeviceGetCudaComputeCapability=device_call("nvmlDeviceGetCudaComputeCapability"),
        nvmlDeviceGetMemoryInfo=device_call("nvmlDeviceGetMemoryInfo"),
        calls=calls,
    )


def recorded(name: str = "h100-probe") -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def gb10(total_zero: bool = False) -> SimpleNamespace:
    """DGX Spark as reported on driver 580.x: memory NOT_SUPPORTED (or, on some drivers, a zero total)."""
    memory: dict[str, Any] = ({"total": 0, "free": 0, "used": 0} if total_zero
                              else {"error": "NVMLError_NotSupported", "code": 3})
    memory_v2 = ({"version": pynvml.nvmlMemory_v2, "total": 0, "reserved": 0, "free": 0, "used": 0} if total_zero
                 else {"error": "NVMLError_NotSupported", "code": 3})
    return replay({
        "nvmlSystemGetDriverVersion": "580.95.05", "nvmlSystemGetCudaDriverVersion_v2": 13000,
        "nvmlDeviceGetCount": 1,
        "devices": [{"nvmlDeviceGetName": "NVIDIA GB10", "nvmlDeviceGetCudaComputeCapability": [12, 1],
                     "nvmlDeviceGetMemoryInfo": memory, "nvmlDeviceGetMemoryInfo_v2": memory_v2}],
    })


def no_driver() -> SimpleNamespace:
    return replay({"nvmlInit": {"error": "NVMLError_DriverNotLoaded"}, "devices": []})
