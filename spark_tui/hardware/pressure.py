"""Is the machine nearly full before a launch? vLLM refuses to start (or dies in its start-up check) when it is."""

from __future__ import annotations

from spark_tui.hardware.facts import HardwareFacts
from spark_tui.hardware.profiles import GIB

THRESHOLD = 0.95
DROP_CACHES = "sudo sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'"


def memory_pressure(hw: HardwareFacts, threshold: float = THRESHOLD) -> str | None:
    """A warning with the numbers when memory in use is at or above `threshold` of the total; None otherwise
    (and for a profile: a plan for another machine says nothing about this one's memory)."""
    if hw.source != "probe" or not hw.memory_bytes:
        return None
    total = hw.memory_bytes
    if hw.unified_memory and hw.host_memory_total_bytes:
        total = hw.host_memory_total_bytes
        available = hw.host_memory_available_bytes or 0
        free = hw.host_memory_free_bytes or 0
        cache = hw.host_page_cache_bytes or 0
        # vLLM's start-up check reads free memory, and on unified memory the page cache is not free.
        busiest = max(total - available, total - free)
        if busiest / total < threshold:
            return None
        text = (f"Memory is {busiest / total:.0%} in use before launch: {free / GIB:.1f} GiB free, "
                f"{available / GIB:.1f} GiB available, {cache / GIB:.1f} GiB of page cache, of {total / GIB:.1f} GiB. "
                "vLLM may refuse to start or run out of memory.")
        if cache >= 0.05 * total:
            text += f" Page cache counts as used on unified memory; drop it first: {DROP_CACHES}"
        return text
    used = hw.memory_used_bytes
    if used is None or used / total < threshold:
        return None
    return (f"GPU memory is {used / total:.0%} in use before launch ({used / GIB:.1f} of {total / GIB:.1f} GiB): "
            "vLLM may refuse to start. See what holds it: spark-tui ps, nvidia-smi.")
