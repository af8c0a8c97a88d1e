"""GGUF (llama.cpp's format): the variants a repo or folder holds, and the metadata at the head of a file.

Pure: bytes and file listings in, plain data out; `gguf_read` does the reading. The format's constants (magic,
value types, file types) come from the `gguf` package (llama.cpp's own gguf-py). Its GGUFReader memory-maps a
whole file and fails on a prefix (gguf 0.19.0: "cannot reshape array" once tensor data is missing), so the header
— key/values and tensor infos, which come before any tensor data — is walked here from a byte prefix, the way
/work/research/llamacpp/gguf_header.py prototyped and gguf-py's `GGUFReader._build_fields`/`_build_tensor_info`
lay it out: little-endian; strings are a u64 length + UTF-8; arrays a u32 element type + u64 count + elements.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any

# llama.cpp's split naming: src/llama.cpp SPLIT_PATH_FORMAT "%s-%05d-of-%05d.gguf".
SHARD = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)
# The quant type in a file name: Qwen3-8B-Q4_K_M.gguf, llama-2-7b.Q8_0.gguf, gpt-oss-20b-MXFP4.gguf, …-UD-Q4_K_XL.
_QUANT = re.compile(r"(?:^|[-_.])((?:UD-)?(?:I?Q\d+(?:_[A-Z0-9]+)*|TQ\d_\d|MXFP4(?:_MOE)?|NVFP4|BF16|F16|FP16|F32))"
                    r"(?=\.gguf$|[-.])", re.IGNORECASE)
# llama.cpp's `-hf` default (common/download.cpp find_best_model): Q4_K_M, then Q8_0, then the first file.
DEFAULT_ORDER = ("Q4_K_M", "Q8_0")
MAX_HEADER_BYTES = 64 << 20  # key/values + tensor infos; real files (150k-token vocabularies) need a few MiB
MAX_ARRAY_KEPT = 1024  # longer arrays (the vocabulary, merges) are skipped, not kept
MAX_TENSORS = 1 << 20
MAX_KEYS = 1 << 16
_SAFE_PATH = re.compile(r"[\w.+-]+(?:/[\w.+-]+){0,3}")  # a Hub file name we will put in a URL or a path


@dataclass(frozen=True)
class GGUFVariant:
    """One quantization of a model: a single .gguf or the parts of a split one."""

    file: str  # the file llama.cpp is given (part 1 of a split)
    quant: str | None  # Q4_K_M, Q8_0, MXFP4, …, from the file name; None when the name does not say
    size_bytes: int | None  # all parts together; None when the listing gives no size
    parts: tuple[str, ...]


class NeedMoreBytes(Exception):
    """The prefix ends inside the header: read at least `needed` bytes."""

    def __init__(self, needed: int) -> None:
        super().__init__(needed)
        self.needed = needed


class NotGGUF(ValueError):
    """Not a GGUF header (wrong magic, unknown version or value type, absurd counts)."""


def quant_of(path: str) -> str | None:
    name = SHARD.sub(".gguf", path.rsplit("/", 1)[-1])
    found = _QUANT.findall(name)
    return found[-1].upper() if found else None


def _gguf_constants() -> Any:
    # gguf's package import loads numpy (~0.13 s): only when a GGUF header is really read or named.
    from gguf import constants

    return constants


def file_type_name(code: Any) -> str | None:
    """general.file_type → Q4_K_M etc. (gguf-py's LlamaFileType names, "MOSTLY_" dropped)."""
    LlamaFileType = _gguf_constants().LlamaFileType
    if not isinstance(code, int) or isinstance(code, bool):
        return None
    try:
        return LlamaFileType(code).name.removeprefix("MOSTLY_").removeprefix("ALL_")
    except ValueError:
        return None


def variants(files: list[tuple[str, int | None]]) -> list[GGUFVariant]:
    """The GGUF variants of a listing, in listing order; split parts grouped; mmproj (vision) files left out."""
    groups: dict[str, list[tuple[str, int | None]]] = {}
    for path, size in sorted(files):
        if not path.lower().endswith(".gguf") or path.rsplit("/", 1)[-1].lower().startswith("mmproj"):
            continue
        if not _SAFE_PATH.fullmatch(path) or ".." in path.split("/"):
            continue  # a name that could leave the repo's folder or break a URL: never used
        groups.setdefault(SHARD.sub("", path), []).append((path, size))
    out = []
    for parts in groups.values():
        sizes = [s for _, s in parts]
        total = None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)
        out.append(GGUFVariant(parts[0][0], quant_of(parts[0][0]), total, tuple(p for p, _ in parts)))
    return out


def incomplete_split(variant: GGUFVariant) -> str | None:
    """A sentence when a split variant's listing lacks parts (its size would be short), else None."""
    match = SHARD.search(variant.file)
    if match and int(match.group(2)) != len(variant.parts):
        return f"{variant.file} names {int(match.group(2))} parts but {len(variant.parts)} are listed"
    return None


def choose(found: list[GGUFVariant], gguf_file: str | None = None, quant: str | None = None) -> GGUFVariant | None:
    """The variant asked for (a file name, or a quant type), else llama.cpp's `-hf` default. None: nothing matches
    what was asked (the caller words it, listing what there is)."""
    if gguf_file:
        for v in found:
            if gguf_file in v.parts or gguf_file.lower() in (v.file.rsplit("/", 1)[-1].lower(), SHARD.sub("", v.file)):
                return v
        return None
    if quant:
        wanted = quant.upper()
        return next((v for v in found if v.quant in (wanted, f"UD-{wanted}")), None)
    for tag in DEFAULT_ORDER:
        hit = next((v for v in found if v.quant == tag), None)
        if hit:
            return hit
    return found[0] if found else None


class _Cursor:
    def __init__(self, data: bytes) -> None:
        c = _gguf_constants()
        t = c.GGUFValueType
        self.data, self.pos, self.types = data, 0, t
        self.magic = c.GGUF_MAGIC
        self.scalar = {t.UINT8: "<B", t.INT8: "<b", t.UINT16: "<H", t.INT16: "<h", t.UINT32: "<I", t.INT32: "<i",
                       t.FLOAT32: "<f", t.BOOL: "<?", t.UINT64: "<Q", t.INT64: "<q", t.FLOAT64: "<d"}

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise NeedMoreBytes(end)
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > MAX_HEADER_BYTES:
            raise NotGGUF(f"a string of {n} bytes")
        return self.take(n).decode("utf-8", errors="replace")

    def value(self, vtype: int, depth: int = 0) -> Any:
        if vtype in self.scalar:
            return self.unpack(self.scalar[vtype])
        if vtype == self.types.STRING:
            return self.string()
        if vtype == self.types.ARRAY and depth < 2:
            etype, count = self.unpack("<I"), self.unpack("<Q")
            if count > MAX_HEADER_BYTES:
                raise NotGGUF(f"an array of {count} elements")
            if etype in self.scalar and count > MAX_ARRAY_KEPT:  # skip without decoding
                self.take(count * struct.calcsize(self.scalar[etype]))
                return None
            items = [self.value(etype, depth + 1) for _ in range(count)]
            return items if count <= MAX_ARRAY_KEPT else None
        raise NotGGUF(f"unknown value type {vtype}")


def parse_header(data: bytes) -> dict[str, Any]:
    """{version, tensor_count, kv (key → value; long arrays as None), array_lengths (key → element count), params
    (elements of the tensors in this file), header_bytes}. Raises NeedMoreBytes when `data` ends inside the
    header, NotGGUF when it is none."""
    cur = _Cursor(data)
    if cur.unpack("<I") != cur.magic:
        raise NotGGUF("no GGUF magic")
    version = cur.unpack("<I")
    if version not in (2, 3):
        raise NotGGUF(f"GGUF version {version}")
    tensor_count, kv_count = cur.unpack("<Q"), cur.unpack("<Q")
    if tensor_count > MAX_TENSORS or kv_count > MAX_KEYS:
        raise NotGGUF(f"{tensor_count} tensors, {kv_count} keys")
    kv: dict[str, Any] = {}
    lengths: dict[str, int] = {}  # every array's element count, kept even when its elements are not
    for _ in range(kv_count):
        key = cur.string()
        vtype = cur.unpack("<I")
        if vtype == cur.types.ARRAY and cur.pos + 12 <= len(data):
            lengths[key] = struct.unpack_from("<Q", data, cur.pos + 4)[0]
        kv[key] = cur.value(vtype)
    params = 0
    for _ in range(tensor_count):  # name, n_dims u32, dims u64 × n_dims, ggml type u32, offset u64
        cur.string()
        n_dims = cur.unpack("<I")
        if n_dims > 8:
            raise NotGGUF(f"a tensor of {n_dims} dimensions")
        count = 1
        for _ in range(n_dims):
            count *= cur.unpack("<Q")
        cur.take(12)
        params += count
    return {"version": version, "tensor_count": tensor_count, "kv": kv, "array_lengths": lengths, "params": params,
            "header_bytes": cur.pos}


def kept_keys(kv: dict[str, Any]) -> dict[str, Any]:
    """What is worth caching: the model's hyper-parameters, not the tokenizer (vocabulary, merges, template)."""
    return {k: v for k, v in kv.items() if not k.startswith("tokenizer.") and v is not None
            and not (isinstance(v, str) and len(v) > 1000)}
