"""vLLM servers on this machine that spark-tui did not start: found by their command line (`vllm serve` or the
OpenAI server module) and their listening socket. This user's processes only: another user's sockets are not ours
to see. The records are for display (no log; `stop` leaves them alone)."""

from __future__ import annotations

import os
from pathlib import Path

from spark_tui.engines.records import ServerRecord


def find_external(our_groups: set[int], our_ports: set[int]) -> list[ServerRecord]:
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline", "create_time"]):
        cmdline = process.info["cmdline"] or []
        if not _is_vllm_server(cmdline):
            continue
        try:
            if os.getpgid(process.pid) in our_groups:
                continue
            ports = [c.laddr for c in process.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
        for laddr in [a for a in ports if a.port not in our_ports][:1]:
            host = laddr.ip if laddr.ip not in ("0.0.0.0", "::") else "127.0.0.1"
            found.append(ServerRecord(name=f"external-{laddr.port}", model=_served_model(cmdline), engine="vllm",
                                      argv=list(cmdline), env={}, pid=process.pid, port=laddr.port, host=host,
                                      log="", started_at=process.info["create_time"], external=True))
    return found


def _is_vllm_server(cmdline: list[str]) -> bool:
    """`…/vllm serve MODEL …` (the console script, however it was started) or the OpenAI server module."""
    if "vllm.entrypoints.openai.api_server" in cmdline:
        return True
    return any(Path(part).name == "vllm" and cmdline[i + 1:i + 2] == ["serve"] for i, part in enumerate(cmdline))


def _served_model(cmdline: list[str]) -> str:
    for flag in ("--served-model-name", "--model"):
        if flag in cmdline and cmdline.index(flag) + 1 < len(cmdline):
            return cmdline[cmdline.index(flag) + 1]
    if "serve" in cmdline and cmdline.index("serve") + 1 < len(cmdline):
        return cmdline[cmdline.index("serve") + 1]
    return "?"
