"""GGUF files for tests, written by the `gguf` package's own GGUFWriter: tiny tensors, but the header keys a real
model has (Qwen3-8B's: 36 layers, 32 heads, 8 KV heads, 4096 hidden, 40960 context, its file_type codes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf import GGUFWriter

# gguf-py LlamaFileType codes
FILE_TYPE = {"Q4_K_M": 15, "Q8_0": 7, "Q6_K": 18, "BF16": 32, "IQ4_XS": 30}
QWEN3_8B = {"block_count": 36, "context_length": 40960, "embedding_length": 4096, "feed_forward_length": 12288,
            "head_count": 32, "head_count_kv": 8, "key_length": 128, "value_length": 128}


def qwen3_gguf(path: Path, quant: str = "Q4_K_M", tokens: int = 5000, split: tuple[int, int] | None = None,
               tensors: tuple[tuple[str, tuple[int, ...]], ...] = (("token_embd.weight", (8, 16)),
                                                                  ("blk.0.attn_q.weight", (4, 16)))) -> bytes:
    """Write a Qwen3-8B-shaped GGUF to `path` and return its bytes. `split` = (index from 0, count)."""
    w = GGUFWriter(str(path), "qwen3")
    if split is None or split[0] == 0:
        h = QWEN3_8B
        w.add_name("Qwen3-8B")
        w.add_file_type(FILE_TYPE.get(quant, 1))
        w.add_block_count(h["block_count"])
        w.add_context_length(h["context_length"])
        w.add_embedding_length(h["embedding_length"])
        w.add_feed_forward_length(h["feed_forward_length"])
        w.add_head_count(h["head_count"])
        w.add_head_count_kv(h["head_count_kv"])
        w.add_key_length(h["key_length"])
        w.add_value_length(h["value_length"])
        w.add_tokenizer_model("gpt2")
        w.add_token_list([f"token-{i:06d}" for i in range(tokens)])  # a vocabulary: pushes the header past 64 KiB
    if split is not None:
        w.add_uint16("split.no", split[0])
        w.add_uint16("split.count", split[1])
        w.add_int32("split.tensors.count", len(tensors) * split[1])
    for name, shape in tensors:
        w.add_tensor(name, np.zeros(shape, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.read_bytes()


def gguf_head(arch: str, values: dict[str, int], file_type: int, params: int | None = None) -> bytes:
    """The bytes of a GGUF file with `values` as `{arch}.<key>` u32 metadata (no vocabulary, one tiny tensor). With
    `params`, the header also lists a tensor of that many elements whose data is not written: the head of a file
    whose (synthetic) rest the Hub emulator serves, so the model's parameter count reads true."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.gguf"
        w = GGUFWriter(str(path), arch)
        w.add_file_type(file_type)
        for key, value in values.items():
            w.add_uint32(f"{arch}.{key}", value)
        if params is None:
            w.add_tensor("token_embd.weight", np.zeros((4, 4), dtype=np.float32))
            w.write_header_to_file()
            w.write_kv_data_to_file()
            w.write_tensors_to_file()
        else:
            rows = values.get("embedding_length", 4096)
            w.add_tensor_info("blk.0.ffn_down_exps.weight", (rows, params // rows), np.dtype(np.float32),
                              params // rows * rows * 4)
            w.write_header_to_file()
            w.write_kv_data_to_file()
            w.write_ti_data_to_file()
        w.close()
        return path.read_bytes()


def qwen3_8b_head(quant: str) -> bytes:
    keys = {("attention." + k if k in ("head_count", "head_count_kv", "key_length", "value_length") else k): v
            for k, v in QWEN3_8B.items()}
    return gguf_head("qwen3", keys, FILE_TYPE[quant])


# gpt-oss-20b's GGUF (ggml-org/gpt-oss-20b-GGUF; keys as llama.cpp's start-up log prints them)
GPT_OSS_20B = {"block_count": 24, "context_length": 131072, "embedding_length": 2880, "attention.head_count": 64,
               "attention.head_count_kv": 8, "attention.key_length": 64, "attention.value_length": 64,
               "attention.sliding_window": 128, "expert_count": 32, "expert_used_count": 4,
               "expert_feed_forward_length": 2880}
# gpt-oss-120b: the same shapes with 36 layers and 128 experts (openai/gpt-oss-120b's config.json)
GPT_OSS_120B = {**GPT_OSS_20B, "block_count": 36, "expert_count": 128}
