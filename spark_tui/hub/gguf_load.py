"""Turn listing-only facts of a GGUF repo, folder or file into header-backed facts: choose the variant, read the
header of each of its parts (from the metadata cache when it was read before), build the facts."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark_tui.errors import HubUnavailableError, UsageError
from spark_tui.hub.facts import ModelFacts, build_model_facts
from spark_tui.hub.gguf import GGUFVariant, choose, incomplete_split, variants


@dataclass(frozen=True)
class GGUFPick:
    """What the user asked for: --gguf-file NAME or --quant TYPE (both None: the default choice)."""

    gguf_file: str | None = None
    quant: str | None = None

    @property
    def asked(self) -> bool:
        return bool(self.gguf_file or self.quant)


def _wanted(facts: ModelFacts, no_config: bool, pick: GGUFPick) -> bool:
    if "gguf" not in facts.formats:
        if pick.asked:
            flag = "--gguf-file" if pick.gguf_file else "--quant"
            raise UsageError(f"{facts.id} holds no GGUF files, so {flag} has nothing to pick from.",
                             f"Drop {flag}, or name a GGUF repo (e.g. bartowski/Qwen3-8B-GGUF).")
        return False
    return no_config or pick.asked


def _choose(facts: ModelFacts, files: list[tuple[str, int | None]], pick: GGUFPick) -> tuple[GGUFVariant,
                                                                                            list[GGUFVariant]]:
    found = variants(files)
    variant = choose(found, pick.gguf_file, pick.quant)
    if variant is None:
        listed = ", ".join(f"{v.file} ({v.quant or '?'})" for v in found[:8]) or "none usable"
        asked = f"file '{pick.gguf_file}'" if pick.gguf_file else f"quant type '{pick.quant}'"
        raise UsageError(f"{facts.id} has no GGUF {asked}; it has: {listed}.",
                         "Pass one of those with --gguf-file NAME, or its quant type with --quant TYPE.")
    return variant, found


def _valid(header: Any) -> bool:
    return isinstance(header, dict) and isinstance(header.get("kv"), dict) and isinstance(header.get("params"), int)


def _build(facts: ModelFacts, variant: GGUFVariant, found: list[GGUFVariant],
           headers: dict[str, Any], asked: bool = False) -> ModelFacts:
    from dataclasses import replace

    from spark_tui.hub.gguf_facts import gguf_facts

    first = headers[variant.file]
    split = incomplete_split(variant)
    # Parameters: the tensor elements of every part (each part's header lists its own tensors).
    params = sum(headers[p]["params"] for p in variant.parts) if split is None else None
    built = replace(gguf_facts(facts, first, variant, found, params or None), gguf_asked=asked)
    if split:
        return replace(built, weights_bytes=None, notes=(*built.notes, f"{split}: its size is unknown"))
    return built


def with_hub_gguf(facts: ModelFacts, repo_id: str, commit: str, raw: dict[str, Any], pick: GGUFPick, *,
                  offline: bool, store: Callable[[], None], timeout: float) -> ModelFacts:
    """`raw`: the cached metadata; headers read here are added to it under "gguf_headers" and `store`d."""
    if not _wanted(facts, raw.get("config") is None, pick):
        return facts
    siblings = (raw.get("api") or {}).get("siblings") or []
    files = [(s["rfilename"], s.get("size")) for s in siblings if isinstance(s, dict)
             and isinstance(s.get("rfilename"), str)]
    variant, found = _choose(facts, files, pick)
    headers = raw.get("gguf_headers")
    if not isinstance(headers, dict):
        headers = raw["gguf_headers"] = {}
    missing = [p for p in variant.parts if not _valid(headers.get(p))]
    if missing and offline:
        raise HubUnavailableError(f"Offline, and the GGUF header of {variant.file} ({repo_id}) is not in "
                                  "spark-tui's cache.", "Run the check once online first.")
    if missing:
        from spark_tui.hub.gguf_read import read_hub_header

        for part in missing:
            headers[part] = read_hub_header(repo_id, part, commit, timeout)
        with contextlib.suppress(OSError):  # a full cache disk costs the next check its speed, not this answer
            store()
    return _build(facts, variant, found, headers, pick.asked)


def _read_local(folder: Path, variant: GGUFVariant) -> dict[str, Any]:
    from spark_tui.hub.gguf_read import read_local_header

    return {part: read_local_header(folder / part) for part in variant.parts}


def with_local_gguf(facts: ModelFacts, folder: Path, files: list[tuple[str, int]], no_config: bool,
                    pick: GGUFPick) -> ModelFacts:
    if not _wanted(facts, no_config, pick):
        return facts
    variant, found = _choose(facts, list(files), pick)
    return _build(facts, variant, found, _read_local(folder, variant), pick.asked)


def local_gguf_file(path: Path, pick: GGUFPick) -> ModelFacts:
    """A .gguf file given by path: its variant (with the other parts of a split beside it) from its folder."""
    folder = path.parent
    files: list[tuple[str, int | None]] = []
    try:
        for entry in sorted(folder.iterdir()):
            if entry.suffix.lower() == ".gguf" and entry.is_file():
                files.append((entry.name, entry.stat().st_size))
    except OSError as exc:
        raise UsageError(f"{folder} cannot be read: {exc.strerror or exc}.") from None
    facts = build_model_facts(str(path.resolve()), source="local", revision=None, api={}, config=None,
                              hf_quant_config=None, files=files)
    chosen = GGUFPick(pick.gguf_file or path.name, pick.quant if pick.gguf_file else None)
    return with_local_gguf(facts, folder, files, True, chosen)  # type: ignore[arg-type]
