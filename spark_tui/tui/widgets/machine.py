"""The header that is the machine: GPU, compute capability, memory, driver, engines, planning profile."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from spark_tui.hardware.facts import HardwareFacts
from spark_tui.services import EngineStatus

GIB = 1024**3


def machine_text(hardware: HardwareFacts, probed: HardwareFacts | None, probe_done: bool,
                 engines: list[EngineStatus], docker: bool, offline: bool, auto: bool = True,
                 knowledge: str | None = None, cached: int = 0) -> Text:
    """`offline`: the Hub did not answer; `cached`: how many models the table still has metadata for."""
    text = Text(no_wrap=False, overflow="fold")
    if hardware.source == "probe":
        text.append(f"{hardware.gpus}× {hardware.gpu_name}", style="bold")
    else:
        text.append(f"Planning for {hardware.name}", style="bold")
        if hardware.gpus > 1:
            text.append(f" ×{hardware.gpus}")
    if hardware.nodes > 1:
        link = f"{hardware.interconnect_gbps:g} GB/s" if hardware.interconnect_gbps else "an unknown network"
        text.append(f" · {hardware.nodes} nodes over {link} (vLLM multi-node)", style="bold")
    text.append(f" · CC {hardware.compute_capability or '?'}")
    total = hardware.memory_bytes
    if total:
        kind = "unified" if hardware.unified_memory else "GPU"
        used = hardware.memory_used_bytes
        shown = f"{used / GIB:.1f}/{total / GIB:.1f} GiB" if used is not None else f"{total / GIB:.1f} GiB"
        text.append(f" · {kind} {shown}")
    if hardware.bandwidth_gbps:
        text.append(f" · {hardware.bandwidth_gbps:g} GB/s")
    if hardware.driver_version:
        text.append(f" · driver {hardware.driver_version} CUDA {hardware.cuda_version or '?'}")
    text.append("\n")
    parts = []
    for engine in engines:
        label = {"llamacpp": "llama.cpp"}.get(engine.name, engine.name)
        where = f" ({engine.where})" if engine.where else ""
        parts.append(f"{label} {engine.version}{where}" if engine.version else f"{label} –")
    parts.append("docker ✓" if docker else "docker –")
    text.append("engines: " + " · ".join(parts), style="dim")
    if knowledge:  # which rules the verdicts come from, and how current they are
        text.append(f" · {knowledge}", style="dim")
    if auto and hardware.source == "profile" and probe_done and probed is None:
        text.append("  no NVIDIA GPU here: h picks a profile", style="yellow")
    if offline:  # what is true: no Hub, and how much the table can still judge from the cache
        held = "nothing cached" if not cached else f"{cached} model{'s' if cached != 1 else ''} cached"
        text.append(f"  OFFLINE · {held}", style="bold yellow")
    return text


class MachineHeader(Static):
    def show(self, text: Text) -> None:
        self.update(text)
