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


def test_the_vocabulary_size_is_the_token_list_length_though_the_list_is_not_kept(tmp_path: Path):
    from spark_tui.hub.gguf_read import read_local_header

    qwen3_gguf(tmp_path / "m.gguf", tokens=5000)
    header = read_local_header(tmp_path / "m.gguf")
    assert header["vocab_size"] == 5000 and "tokenizer.ggml.tokens" not in header["kv"]
    assert parse_header((tmp_path / "m.gguf").read_bytes())["array_lengths"]["tokenizer.ggml.tokens"] == 5000


def _facts(kv: dict, params: int | None, vocab: int | None = None):
    from spark_tui.hub.facts import build_model_facts
    from spark_tui.hub.gguf import GGUFVariant
    from spark_tui.hub.gguf_facts import gguf_facts

    base = build_model_facts("t/m", source="local", revision=None, api=None, config=None, hf_quant_config=None,
                             files=[])
    v = GGUFVariant("m.gguf", None, 1, ("m.gguf",))
    return gguf_facts(base, {"kv": kv, "vocab_size": vocab}, v, [v], params)


def test_moe_active_parameters_from_the_header():
    # Qwen3-30B-A3B's header: 48 MoE layers of 128 experts (8 used) of width 768, hidden 2048; 30.53 B in all.
    kv = {"general.architecture": "qwen3moe", "qwen3moe.block_count": 48, "qwen3moe.embedding_length": 2048,
          "qwen3moe.attention.head_count": 32, "qwen3moe.attention.head_count_kv": 4,
          "qwen3moe.expert_count": 128, "qwen3moe.expert_used_count": 8,
          "qwen3moe.expert_feed_forward_length": 768}
    m = _facts(kv, 30_532_122_624, vocab=151936)
    skipped = 48 * 120 * 3 * 2048 * 768
    assert m.moe and m.params_active == 30_532_122_624 - skipped  # 3.35 B, the "A3B"
    assert m.vocab_size == 151936
    dense_first = _facts({**kv, "qwen3moe.leading_dense_block_count": 1}, 30_532_122_624)
    assert dense_first.params_active == 30_532_122_624 - 47 * 120 * 3 * 2048 * 768
    # Mixtral-style files give the experts' width as feed_forward_length.
    mixtral = {"general.architecture": "llama", "llama.block_count": 32, "llama.embedding_length": 4096,
               "llama.attention.head_count": 32, "llama.feed_forward_length": 14336, "llama.expert_count": 8,
               "llama.expert_used_count": 2}
    assert _facts(mixtral, 46_702_792_704).params_active == 46_702_792_704 - 32 * 6 * 3 * 4096 * 14336
    assert _facts({k: v for k, v in kv.items() if "expert_feed" not in k}, 30_532_122_624).params_active is None
