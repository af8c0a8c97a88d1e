"""Find the installed engine's version without importing it (vLLM imports torch: seconds).

vLLM and TensorRT-LLM: package metadata of this interpreter, or of the environment that owns the
`vllm`/`trtllm-serve` executable on PATH (read from its dist-info, no subprocess). llama.cpp:
`llama-server --version` (a native binary: milliseconds).
"""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

_DIST = {"vllm": "vllm", "trtllm": "tensorrt_llm"}
_EXE = {"vllm": "vllm", "trtllm": "trtllm-serve", "llamacpp": "llama-server"}


@dataclass(frozen=True)
class EngineInfo:
    """An engine the advisor knows, with the newest release its rules were written against."""

    name: str
    title: str
    newest_known: str


def known_engines() -> dict[str, EngineInfo]:
    from spark_tui.datacache import cached
    from spark_tui.rules.knowledge import active_knowledge

    path = active_knowledge().engines_file  # an installed rules update may carry newer newest_known releases

    def parse() -> dict[str, EngineInfo]:
        import tomllib

        data = tomllib.loads(path.read_text())
        return {k: EngineInfo(k, v["title"], v["newest_known"]) for k, v in data.items()}

    return cached("engines", [Path(__file__), path], parse, dict)


def _dist_version(folders: list[Path], dist: str) -> str | None:
    """Version from a `<dist>-<version>.dist-info` folder. (importlib.metadata would cost ~25 ms of imports
    on every `check`; the folder name is the standard's own record of the version.)"""
    for folder in folders:
        for info in folder.glob(f"{dist}-*.dist-info"):
            match = re.match(rf"{dist}-([^-]+)\.dist-info$", info.name, re.IGNORECASE)
            if match:
                return match.group(1)
    return None


def dist_version_beside(executable: str, dist: str) -> str | None:
    """The version of `dist` installed in the environment that owns `executable` (e.g. a venv's bin/trtllm-serve)."""
    return _dist_version(list(Path(executable).resolve().parent.parent.glob("lib/python3*/site-packages")), dist)


def installed_version(engine: str) -> str | None:
    dist = _DIST.get(engine)
    if dist:
        here = _dist_version([Path(p) for p in sys.path if p.endswith("-packages")], dist)
        if here:
            return here
        exe = shutil.which(_EXE[engine])
        if not exe:
            return None
        # The environment that owns the executable on PATH (e.g. another venv's bin/vllm).
        return dist_version_beside(exe, dist)
    if engine == "llamacpp":
        exe = shutil.which(_EXE[engine])
        if not exe:
            return None
        import subprocess  # only for llama.cpp, whose version only its binary knows

        try:
            out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        match = re.search(r"version:\s*(\d+)", out.stdout + out.stderr)
        return match.group(1) if match else None
    return None
