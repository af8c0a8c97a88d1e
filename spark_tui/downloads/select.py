"""Which files of a repo an engine needs. For vLLM: one weight format (safetensors when there are any), so
duplicates — `original/`, `consolidated*`, `.bin`/`.pth` beside safetensors, GGUF, Flax/TF/ONNX — are skipped
unless asked for; each skip says why."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from spark_tui.errors import UsageError


@dataclass(frozen=True)
class RepoFile:
    path: str
    size: int


@dataclass(frozen=True)
class SkippedFile:
    path: str
    size: int
    reason: str


_OTHER_FRAMEWORKS = (".msgpack", ".h5", ".onnx", ".onnx_data", ".ot", ".tflite", ".mlmodel", ".keras")


def _skip_reason(path: str, has_safetensors: bool, has_model_shards: bool) -> str | None:
    name = path.rsplit("/", 1)[-1]
    if not has_safetensors:
        return None
    if path.startswith("original/"):
        return "original/ (the checkpoint before conversion; vLLM reads the safetensors)"
    if name.startswith("consolidated") and has_model_shards:
        return "consolidated* (Mistral's own format; vLLM reads the model-*.safetensors)"
    if name.endswith((".bin", ".pth", ".pt")):
        return "PyTorch pickle (a duplicate of the safetensors)"
    if name.endswith(".gguf"):
        return "GGUF (llama.cpp's format)"
    if name.endswith(_OTHER_FRAMEWORKS) or path.startswith(("onnx/", "openvino/", "coreml/")):
        return "weights for another framework (Flax/TF/ONNX/OpenVINO)"
    return None


def select_files(files: list[RepoFile], include: list[str] | None = None, exclude: list[str] | None = None,
                 everything: bool = False) -> tuple[list[RepoFile], list[SkippedFile]]:
    """(files to fetch, files skipped with the reason). `include` globs replace the default choice; `exclude`
    globs apply last; `everything` skips nothing."""
    keep: list[RepoFile] = []
    skipped: list[SkippedFile] = []
    has_safetensors = any(f.path.endswith(".safetensors") and not f.path.startswith("original/") for f in files)
    has_model_shards = any(f.path.endswith(".safetensors") and not f.path.rsplit("/", 1)[-1].startswith(
        "consolidated") for f in files)
    for f in files:
        if include:
            reason = None if any(fnmatch.fnmatch(f.path, g) for g in include) else "not matched by --include"
        elif everything:
            reason = None
        else:
            reason = _skip_reason(f.path, has_safetensors, has_model_shards)
        if reason is None and exclude and any(fnmatch.fnmatch(f.path, g) for g in exclude):
            reason = "matched by --exclude"
        if reason is None:
            keep.append(f)
        else:
            skipped.append(SkippedFile(f.path, f.size, reason))
    ggufs = [f for f in keep if f.path.endswith(".gguf")]
    if not include and not everything and len(ggufs) > 1 and not has_safetensors:
        variants = ", ".join(f"{f.path} ({f.size / 1024**3:.1f} GiB)" for f in ggufs[:6])
        raise UsageError(f"This repo holds {len(ggufs)} GGUF variants; pick one: {variants}.",
                         "Pass --include with its name, e.g. --include '*Q4_K_M*'.")
    return keep, skipped
