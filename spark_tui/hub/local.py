"""A local checkpoint directory (made with llm-compressor or ModelOpt on the machine): the same raw
metadata as from the Hub, read from its files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spark_tui.errors import ModelDataError


def read_json_file(path: Path, label: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ModelDataError(f"{label} is not valid JSON ({exc}).", "Fix or re-download the file.") from None
    except OSError as exc:
        raise ModelDataError(f"{label} cannot be read: {exc.strerror or exc}.") from None
    if not isinstance(data, dict):
        raise ModelDataError(f"{label} is not a JSON object.")
    return data


def read_local(directory: Path) -> dict[str, Any]:
    files: list[tuple[str, int]] = []
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in rel.split("/")):
            files.append((rel, path.stat().st_size))
    return {
        "api": {},
        "config": read_json_file(directory / "config.json", f"{directory}/config.json"),
        "hf_quant_config": read_json_file(directory / "hf_quant_config.json", f"{directory}/hf_quant_config.json"),
        "files": files,
    }
