"""llama.cpp's memory plan against the public llama-server start-up records (tests/fixtures/llamacpp-startup).

    python bench/llamacpp_memory_records.py [--markdown]

For each record that can be planned: the KV cache, the device compute buffer (`CUDA0 compute buffer size`) and the
host one (`CUDA_Host compute buffer size` + the output buffer) as printed and as spark_tui/advisor/llamacpp_plan.py
computes them, in MiB, and the error. Records with weights or experts left on the CPU are listed apart: the compute
model is for every layer on the GPU (how llama-server runs with -ngl all).
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.llamacpp_records import Row, rows


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:+.1f} %"


def _mib(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    head = ["record", "model", "n_ctx", "FA", "all on GPU", "KV printed", "KV computed", "KV err",
            "compute printed", "computed", "err", "host printed", "computed", "err"]

    def cells(r: Row) -> list[str]:
        return [r.id, r.model[:40], f"{r.n_ctx:,}", "on" if r.flash_attn else "off",
                "yes" if r.full_offload else f"no: {r.note}", _mib(r.kv_printed), _mib(r.kv_computed),
                _pct(r.kv_error), _mib(r.device_printed), _mib(r.device_computed), _pct(r.device_error),
                _mib(r.host_printed), _mib(r.host_computed), _pct(r.host_error)]

    table = [cells(r) for r in rows()]
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for line in table:
            print("| " + " | ".join(c.replace("|", "\\|") for c in line) + " |")
    else:
        widths = [max(len(h), *(len(line[i]) for line in table)) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
        for line in table:
            print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))
    full = [r for r in rows() if r.full_offload]
    kv = [abs(r.kv_error) for r in rows() if r.kv_error is not None]
    dev = [abs(r.device_error) for r in full if r.device_error is not None]
    host = [abs(r.host_error) for r in rows() if r.host_error is not None]
    print(f"\n{len(rows())} records; KV max |err| {max(kv) * 100:.2f} % ({len(kv)} records); device compute max "
          f"|err| {max(dev) * 100:.1f} % ({len(dev)} with every layer on the GPU); host compute max |err| "
          f"{max(host) * 100:.1f} % ({len(host)} records). Python {platform.python_version()}.")


if __name__ == "__main__":
    main()
