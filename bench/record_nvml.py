"""Record what NVML answers on this machine, for the replayed probe fixture.

Run on a machine with an NVIDIA GPU:  python bench/record_nvml.py OUT.json
Writes the raw answers of every NVML call spark-tui's probe makes (values or the NVML error
name), plus, for comparison, CUDA's own view of memory (torch.cuda.mem_get_info, when torch
is installed) and nvidia-smi's, so the recorded fixture can be checked against both.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import pynvml


def _call(fn, *args, **kwargs):
    try:
        value = fn(*args, **kwargs)
    except pynvml.NVMLError as exc:
        return {"error": type(exc).__name__, "code": exc.value}
    return value


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if hasattr(value, "_fields_"):
        return {name: _plain(getattr(value, name)) for name, _ in value._fields_}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def main() -> int:
    out = sys.argv[1]
    pynvml.nvmlInit()
    record: dict = {
        "nvmlSystemGetDriverVersion": _plain(_call(pynvml.nvmlSystemGetDriverVersion)),
        "nvmlSystemGetCudaDriverVersion_v2": _plain(_call(pynvml.nvmlSystemGetCudaDriverVersion_v2)),
        "nvmlDeviceGetCount": _plain(_call(pynvml.nvmlDeviceGetCount)),
        "devices": [],
    }
    for i in range(record["nvmlDeviceGetCount"]):
        h = pynvml.nvmlDeviceGetHandleByIndex(i)
        record["devices"].append({
            "nvmlDeviceGetName": _plain(_call(pynvml.nvmlDeviceGetName, h)),
            "nvmlDeviceGetCudaComputeCapability": _plain(_call(pynvml.nvmlDeviceGetCudaComputeCapability, h)),
            "nvmlDeviceGetMemoryInfo": _plain(_call(pynvml.nvmlDeviceGetMemoryInfo, h)),
            "nvmlDeviceGetMemoryInfo_v2": _plain(
                _call(pynvml.nvmlDeviceGetMemoryInfo, h, version=pynvml.nvmlMemory_v2)
            ),
        })
    # Cost of one memory poll, for BENCHMARKS.md.
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        pynvml.nvmlDeviceGetMemoryInfo(h)
    record["_poll_memory_info_us"] = (time.perf_counter() - t0) / n * 1e6
    pynvml.nvmlShutdown()
    try:
        import torch

        free, total = torch.cuda.mem_get_info(0)
        record["_torch_mem_get_info"] = {"free": free, "total": total}
    except Exception as exc:  # torch is optional
        record["_torch_mem_get_info"] = {"error": repr(exc)}
    if shutil.which("nvidia-smi"):
        record["_nvidia_smi"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,compute_cap,driver_version,memory.total,memory.used,memory.free",
             "--format=csv,noheader,nounits"], capture_output=True, text=True, check=False).stdout.strip()
    with open(out, "w") as fh:
        json.dump(record, fh, indent=2)
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
