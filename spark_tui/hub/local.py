"""A local checkpoint directory (made with llm-compressor or ModelOpt on the machine): the same raw
metadata as from the Hub, read from its files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from spark_tui.errors import ModelDataError

# A checkpoint is a few hundred files at most, a folder or two deep (e.g. "original/"). Anything bigger is not
# one (`check /` must answer at once, not walk the whole machine).
MAX_FILES = 10_000
MAX_DEPTH = 3
_WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pt", ".pth")


# The largest real configs (long quantization ignore-lists) are a few MiB; more is not a config, and reading it
# whole (a link to /dev/zero, a mislabelled weights file) would only cost memory.
MAX_CONFIG_BYTES = 32 << 20


def read_json_file(path: Path, label: str) -> dict[str, Any] | None:
    try:
        with path.open("rb") as fh:  # bytes: json finds the encoding, and text that is not UTF-8 is a ValueError
            text = fh.read(MAX_CONFIG_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise ModelDataError(f"{label} cannot be read: {exc.strerror or exc}.",
                             "Check the file's permissions (and that the disk is healthy).") from None
    if len(text) > MAX_CONFIG_BYTES:
        raise ModelDataError(f"{label} is larger than {MAX_CONFIG_BYTES >> 20} MiB: not a config.")
    try:
        data = json.loads(text)
    except ValueError as exc:  # includes text that is not UTF-8
        raise ModelDataError(f"{label} is not valid JSON ({exc}).", "Fix or re-download the file.") from None
    except RecursionError:
        raise ModelDataError(f"{label} is nested too deeply to be a config.", "Fix or re-download the file.") from None
    if not isinstance(data, dict):
        raise ModelDataError(f"{label} is not a JSON object.")
    return data


def _list_files(directory: Path) -> list[tuple[str, int]]:
    def unreadable(exc: OSError) -> None:
        raise ModelDataError(f"{exc.filename or directory} cannot be read: {exc.strerror or exc}.",
                             "Check the folder's permissions.")

    files: list[tuple[str, int]] = []
    for root, dirs, names in os.walk(directory, onerror=unreadable):
        rel_root = Path(root).relative_to(directory)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if len(rel_root.parts) < MAX_DEPTH - 1 else []
        for name in sorted(names):
            if name.startswith("."):
                continue
            try:
                size = (Path(root) / name).stat().st_size
            except FileNotFoundError:
                continue  # a dangling link
            except OSError as exc:
                unreadable(exc)
            files.append(((rel_root / name).as_posix(), size))
            if len(files) > MAX_FILES:
                raise ModelDataError(f"{directory} holds more than {MAX_FILES:,} files: not a model checkpoint.",
                                     "Pass the checkpoint's own folder (the one with config.json).")
    return files


def _has_weights_on_top(directory: Path) -> bool:
    try:
        with os.scandir(directory) as entries:
            return any(entry.name.endswith(_WEIGHT_SUFFIXES) for entry in entries)
    except OSError as exc:
        raise ModelDataError(f"{directory} cannot be read: {exc.strerror or exc}.",
                             "Check the folder's permissions.") from None


def read_local(directory: Path) -> dict[str, Any]:
    config = read_json_file(directory / "config.json", f"{directory}/config.json")
    if config is None and not _has_weights_on_top(directory):  # e.g. `check /`: say so before walking anything
        raise ModelDataError(f"{directory} is not a model checkpoint: it has no config.json and no weight files.",
                             "Pass the checkpoint's own folder, or a Hugging Face id (owner/name).")
    files = _list_files(directory)
    return {
        "api": {},
        "config": config,
        "hf_quant_config": read_json_file(directory / "hf_quant_config.json", f"{directory}/hf_quant_config.json"),
        "files": files,
    }
