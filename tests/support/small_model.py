"""A small but real model repo for download tests: valid safetensors shards (written here, deterministic bytes),
their index, a real config.json, and the duplicates a vLLM pull skips (a .bin copy, Meta-style original/)."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DTYPE_BYTES = {"BF16": 2, "F16": 2, "F32": 4, "U8": 1}


def safetensors_bytes(tensors: dict[str, tuple[str, list[int]]], seed: int) -> bytes:
    """A valid safetensors file: 8-byte header length, JSON header, then the tensors' bytes."""
    rng = random.Random(seed)
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    data = bytearray()
    for name, (dtype, shape) in tensors.items():
        size = DTYPE_BYTES[dtype]
        for dim in shape:
            size *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + size]}
        data += rng.randbytes(size)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + bytes(data)


def small_model_files(shard_mib: int = 3) -> dict[str, bytes]:
    rows = shard_mib * 1024 * 1024 // (1024 * 2)  # BF16 [rows, 1024]
    shard1 = safetensors_bytes({"model.embed_tokens.weight": ("BF16", [rows, 1024])}, seed=1)
    shard2 = safetensors_bytes({"model.layers.0.mlp.down_proj.weight": ("BF16", [rows, 1024])}, seed=2)
    index = {"metadata": {"total_size": len(shard1) + len(shard2)},
             "weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                            "model.layers.0.mlp.down_proj.weight": "model-00002-of-00002.safetensors"}}
    config = (ROOT / "fixtures/configs/Qwen__Qwen3-8B.json").read_text()
    return {
        "config.json": config.encode(),
        "generation_config.json": b'{"do_sample": true}\n',
        "tokenizer.json": json.dumps({"version": "1.0", "model": {"type": "BPE", "vocab": {}}}).encode(),
        "model-00001-of-00002.safetensors": shard1,
        "model-00002-of-00002.safetensors": shard2,
        "model.safetensors.index.json": json.dumps(index).encode(),
        "pytorch_model.bin": bytes(random.Random(3).randbytes(2 * 1024 * 1024)),  # a duplicate format
        "original/consolidated.00.pth": bytes(random.Random(4).randbytes(1024 * 1024)),
    }
