"""Executables that stand in for real ones (`vllm`, `docker`): a shell script that runs one of the stand-ins
in tests/support with this interpreter, so code under test finds and runs it exactly as it would the real one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

SUPPORT = Path(__file__).resolve().parent


def stand_in(path: Path, script: str) -> Path:
    """Write an executable at `path` that runs tests/support/`script` with the given arguments."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\nexec {sys.executable} {SUPPORT / script} \"$@\"\n")
    path.chmod(0o755)
    return path


# What `ps --json` says of every server, whatever its engine (ServerStatus.to_json; `nodes` is [] on one node).
PS_KEYS = {"name", "model", "engine", "state", "progress", "pid", "port", "url", "uptime_s",
           "generation_tokens_per_s", "prompt_tokens_per_s", "requests_running", "requests_waiting",
           "kv_cache_usage", "exit_code", "diagnosis", "log", "external", "bench", "kv_cache_tokens", "command",
           "engine_version", "runtime", "bound_tokens_per_s", "nodes"}

OWNER = "FAKE_VLLM_OWNER"  # set by a test (to its tmp dir); its stand-ins inherit it, a container's gets it too


def own_processes(owner: str, script: str = "fake_vllm.py") -> list:
    """The live stand-in processes of one test (those carrying OWNER=`owner`): never another test's or another
    session's, so a test can assert on and end only what it started."""
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(script in part for part in process.info["cmdline"] or []) and \
                    process.environ().get(OWNER) == owner and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            continue
    return found


def fake_docker(tmp_path: Path, monkeypatch: Any, *images: str) -> Path:
    """The docker stand-in (tests/support/fake_docker.py) as this test's docker, with `images` already pulled."""
    exe = stand_in(tmp_path / "dockerbin" / "docker", "fake_docker.py")
    monkeypatch.setenv("SPARK_TUI_DOCKER", str(exe))
    monkeypatch.setenv("FAKE_DOCKER_STATE", str(tmp_path / "docker"))
    monkeypatch.setenv("FAKE_DOCKER_IMAGES", ",".join(("ubuntu:24.04", *images)))
    return exe
