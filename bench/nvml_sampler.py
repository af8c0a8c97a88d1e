"""On a machine with an NVIDIA GPU: hold GPU memory from a torch process, take spark-tui's GPU samples, time one
sample, and record nvidia-smi's view of the same moment, for the replayed fixture and BENCHMARKS.md.

    python bench/nvml_sampler.py OUT_DIR
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from spark_tui.metrics.gpu import GpuSampler

HOLD = """
import torch, time
x = torch.empty(10 * 1024**3, dtype=torch.uint8, device="cuda")
y = torch.randn(8192, 8192, device="cuda")
torch.cuda.synchronize()
print("holding", flush=True)
end = time.time() + 40
while time.time() < end:
    y = y @ y; y = y / y.norm()   # keep the GPU busy so utilisation, power and clocks move
    torch.cuda.synchronize()
"""


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().startswith("holding")
    time.sleep(3)
    sampler = GpuSampler()
    first = sampler.sample()
    n = 200
    start = time.perf_counter()
    for _ in range(n):
        sampler.sample()
    per_sample_ms = (time.perf_counter() - start) / n * 1000
    sample = sampler.sample()
    smi = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used,memory.total,power.draw,"
                          "temperature.gpu,clocks.sm,clocks.mem", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True).stdout.strip()
    apps = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                          capture_output=True, text=True).stdout.strip()
    record = {"holder_pid": holder.pid, "per_sample_ms": per_sample_ms, "samples_in_timing": n,
              "first": [dataclasses.asdict(s) for s in first], "sample": [dataclasses.asdict(s) for s in sample],
              "nvidia_smi_gpu": smi, "nvidia_smi_apps": apps, "unsupported": sorted(map(list, sampler.unsupported))}
    (out / "sampler-h100.json").write_text(json.dumps(record, indent=1, default=str))
    print(json.dumps(record, indent=1, default=str))
    holder.kill()
    sampler.close()


if __name__ == "__main__":
    main()
