"""GGUF variants from a listing, the default choice, and the header parser on prefixes."""

from __future__ import annotations

from pathlib import Path

import pytest

from spark_tui.hub.gguf import NeedMoreBytes, NotGGUF, choose, file_type_name, parse_header, quant_of, variants
from tests.support.gguf_files import qwen3_gguf


@pytest.mark.parametrize(("name", "quant"), [
    ("Qwen3-8B-Q4_K_M.gguf", "Q4_K_M"), ("llama-2-7b.Q8_0.gguf", "Q8_0"), ("gpt-oss-20b-MXFP4.gguf", "MXFP4"),
    ("qwen3-8b-iq4_xs.gguf", "IQ4_XS"), ("Qwen3-30B-A3B-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),
    ("BF16/Qwen3-8B-BF16-00002-of-00003.gguf", "BF16"), ("model.gguf", None)])
def test_quant_from_the_file_name(name, quant):
    assert quant_of(name) == quant


def test_split_parts_group_into_one_variant_and_the_default_is_llamacpps():
    found = variants([("a-Q8_0.gguf", 8), ("b/a-BF16-00002-of-00002.gguf", 5), ("b/a-BF16-00001-of-00002.gguf", 4),
                      ("mmproj-f16.gguf", 1), ("../evil-Q4_K_M.gguf", 1), ("config.json", 1)])
    assert [(v.file, v.quant, v.size_bytes, len(v.parts)) for v in found] == [
        ("a-Q8_0.gguf", "Q8_0", 8, 1), ("b/a-BF16-00001-of-00002.gguf", "BF16", 9, 2)]
    assert choose(found).quant == "Q8_0"  # no Q4_K_M: Q8_0, as llama.cpp's -hf
    assert choose(found, quant="bf16").quant == "BF16"
    assert choose(found, gguf_file="a-BF16-00001-of-00002.gguf").quant == "BF16"
    assert choose(found, quant="Q2_K") is None


def test_the_header_parser_asks_for_more_and_rejects_what_is_not_gguf(tmp_path: Path):
    data = qwen3_gguf(tmp_path / "m.gguf", tokens=5000)
    with pytest.raises(NeedMoreBytes) as more:
        parse_header(data[:65536])
    assert more.value.needed > 65536  # it says where it stopped; the reader asks for that and more
    header = parse_header(data)
    assert header["kv"]["qwen3.attention.head_count_kv"] == 8 and header["params"] == 8 * 16 + 4 * 16
    assert header["kv"]["tokenizer.ggml.tokens"] is None  # the vocabulary is skipped, not kept
    with pytest.raises(NotGGUF):
        parse_header(b"PK\x03\x04" + bytes(64))
    assert file_type_name(15) == "Q4_K_M" and file_type_name(38) == "MXFP4_MOE" and file_type_name(9999) is None
