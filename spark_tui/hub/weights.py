"""Which weight files a repo holds and how many bytes an engine will load."""

from __future__ import annotations

import re
from dataclasses import dataclass

_GGUF_PREFERENCE = ("Q4_K_M", "Q4_K_S", "Q5_K_M", "Q8_0", "MXFP4")
_SHARD = r"-(\d{5})-of-(\d{5})\.gguf$"  # compiled on first use (re caches it)


@dataclass(frozen=True)
class WeightSummary:
    """Which weight files a repo holds and how many bytes an engine will load."""

    weights_bytes: int | None
    weight_format: str | None
    formats: tuple[str, ...]
    gguf_files: tuple[tuple[str, int], ...]  # (variant file or first shard, bytes of the variant)
    notes: list[str]


def _is_duplicate(path: str) -> bool:
    # Meta's original/ folder and Mistral's consolidated files repeat the weights in another layout.
    name = path.rsplit("/", 1)[-1]
    return path.startswith("original/") or name.startswith("consolidated")


def summarise(files: list[tuple[str, int | None]]) -> WeightSummary:
    safetensors = [(p, s) for p, s in files if p.endswith(".safetensors") and not _is_duplicate(p)]
    bins = [
        (p, s)
        for p, s in files
        if re.search(r"(pytorch_model|model)[-\w.]*\.bin$", p.rsplit("/", 1)[-1]) and not _is_duplicate(p)
    ]
    ggufs = [(p, s) for p, s in files if p.lower().endswith(".gguf")]
    formats = tuple(name for name, group in (("safetensors", safetensors), ("bin", bins), ("gguf", ggufs)) if group)
    notes: list[str] = []

    # GGUF repos usually hold several quantisation variants; group shards by variant.
    variants: dict[str, int] = {}
    first_file: dict[str, str] = {}
    for path, size in sorted(ggufs):
        key = re.sub(_SHARD, "", path)
        variants[key] = variants.get(key, 0) + (size or 0)
        first_file.setdefault(key, path)
    gguf_files = tuple((first_file[k], v) for k, v in variants.items())

    chosen: list[tuple[str, int | None]] = []
    weight_format = None
    if safetensors:
        chosen, weight_format = safetensors, "safetensors"
    elif bins:
        chosen, weight_format = bins, "bin"
    elif gguf_files:
        best = next(
            (f for pref in _GGUF_PREFERENCE for f in gguf_files if pref.lower() in f[0].lower()),
            gguf_files[0],
        )
        chosen, weight_format = [best], "gguf"
        if len(gguf_files) > 1:
            notes.append(f"{len(gguf_files)} GGUF variants; sizes use {best[0]}")
    if not chosen:
        return WeightSummary(None, None, formats, gguf_files, notes)
    if any(size is None for _, size in chosen):
        notes.append("some weight files have no size in the listing")
        return WeightSummary(None, weight_format, formats, gguf_files, notes)
    total = sum(s or 0 for _, s in chosen)
    if total == 0:  # empty files are a broken upload or listing, not a model that needs no memory
        notes.append("the weight files are empty in the listing")
        return WeightSummary(None, weight_format, formats, gguf_files, notes)
    return WeightSummary(total, weight_format, formats, gguf_files, notes)
