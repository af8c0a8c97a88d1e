"""`spark-tui check` on GGUF repos, files and folders: the header read with HTTP Range from the Hub emulator."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.integration.test_check_cli import one_sentence_error
from tests.support.gguf_files import qwen3_gguf

GB = 10**9
REPO = "bartowski/Qwen3-8B-GGUF"
PARAMS = 8 * 16 + 4 * 16  # the tiny tensors each test file holds
GB10 = ("--engine", "llamacpp", "--hardware", "gb10", "--json")


def _add_qwen3_repo(hub, tmp: Path, repo: str = REPO, scale: int = 1, tokens: int = 1000) -> None:
    """Real sizes (bartowski's listing for Qwen3-8B), real headers at the start of each file."""
    files: dict[str, object] = {"README.md": b"# GGUF\n"}
    for quant, size in (("Q4_K_M", 5_027_783_488), ("Q8_0", 8_709_519_168), ("Q6_K", 6_725_899_584)):
        name = f"Qwen3-8B-{quant}.gguf"
        files[name] = (qwen3_gguf(tmp / name, quant, tokens=tokens), size * scale)
    for i in range(3):  # BF16 split in three parts, in a folder as bartowski does for large variants
        name = f"Qwen3-8B-bf16/Qwen3-8B-bf16-{i + 1:05d}-of-00003.gguf"
        head = qwen3_gguf(tmp / f"bf16-{i}.gguf", "BF16", tokens=tokens, split=(i, 3))
        files[name] = (head, 5_500_000_000 * scale)
    files["mmproj-Qwen3-8B-f16.gguf"] = 600_000_000  # a vision projector: no variant
    hub.add_repo(repo, files)


@pytest.fixture
def gguf_repo(hub, tmp_path):
    _add_qwen3_repo(hub, tmp_path)
    return hub


def test_a_gguf_repo_was_unknown_and_is_now_judged_from_its_header(gguf_repo, cli):
    r = cli("check", REPO, *GB10)
    data = json.loads(r.out)
    assert data["verdict"] != "unknown", (data["unknowns"], r.err)
    assert r.code in (0, 1)
    m = data["model"]
    # The default variant is the largest that fits with the whole context: on GB10 every one does, so BF16. The
    # header read is llama.cpp's -hf default's (Q4_K_M): every quantization shares the architecture.
    bf16 = "Qwen3-8B-bf16/Qwen3-8B-bf16-00001-of-00003.gguf"
    assert m["quantization"]["method"] == "gguf" and m["quantization"]["scheme"] == "BF16"
    assert (m["architecture"], m["num_layers"], m["num_kv_heads"], m["head_dim"], m["max_context"]) == (
        "qwen3", 36, 8, 128, 40960)
    assert m["attention"] == "gqa" and m["params_total"] == PARAMS
    assert m["weights_bytes"] == 3 * 5_500_000_000 and m["gguf_file"] == bf16
    variants = {v["file"]: v for v in m["gguf_variants"]}
    assert set(variants) == {"Qwen3-8B-Q4_K_M.gguf", "Qwen3-8B-Q6_K.gguf", "Qwen3-8B-Q8_0.gguf",
                             "Qwen3-8B-bf16/Qwen3-8B-bf16-00001-of-00003.gguf"}
    split = variants["Qwen3-8B-bf16/Qwen3-8B-bf16-00001-of-00003.gguf"]
    assert split["quant"] == "BF16" and split["size_bytes"] == 3 * 5_500_000_000
    assert all(v["fits"] is True for v in variants.values())
    # The KV cache is planned from the header: 36 layers × 8 KV heads × 128 × 2 (K and V) × 2 bytes (f16).
    assert data["memory"]["kv_bytes_per_token"] == 36 * 8 * 128 * 2 * 2


def test_only_the_header_of_the_chosen_file_is_read_with_range_requests(gguf_repo, cli):
    cli("check", REPO, *GB10)
    weights = {path: sent for path, sent in gguf_repo.bytes_sent.items() if path.endswith(".gguf")}
    assert list(weights) == ["Qwen3-8B-Q4_K_M.gguf"]
    assert weights["Qwen3-8B-Q4_K_M.gguf"] <= 64 * 1024  # one 64 KiB read of a 5 GB file
    assert [r for _, r in gguf_repo.ranges] == ["bytes=0-65535"]
    gguf_repo.clear()
    again = json.loads(cli("check", REPO, *GB10).out)  # cached: no request at all
    assert again["model"]["architecture"] == "qwen3" and gguf_repo.requests == []


def test_a_header_longer_than_the_first_read_is_read_in_a_larger_range(hub, tmp_path, cli):
    _add_qwen3_repo(hub, tmp_path, "bartowski/Qwen3-8B-GGUF-bigvocab", tokens=6000)  # ~120 KiB of header
    data = json.loads(cli("check", "bartowski/Qwen3-8B-GGUF-bigvocab", *GB10).out)
    assert data["model"]["num_layers"] == 36
    assert len(hub.ranges) == 2 and hub.bytes_sent["Qwen3-8B-Q4_K_M.gguf"] < 512 * 1024


def test_quant_picks_a_split_variant_and_reads_every_part(gguf_repo, cli):
    data = json.loads(cli("check", REPO, *GB10, "--quant", "bf16").out)
    m = data["model"]
    assert m["quantization"]["scheme"] == "BF16" and m["weights_bytes"] == 3 * 5_500_000_000
    assert m["params_total"] == 3 * PARAMS  # each part's tensor infos
    assert sorted(p.rsplit("/", 1)[-1] for p in gguf_repo.bytes_sent) == [
        f"Qwen3-8B-bf16-0000{i}-of-00003.gguf" for i in (1, 2, 3)]


def test_gguf_file_picks_by_name(gguf_repo, cli):
    data = json.loads(cli("check", REPO, *GB10, "--gguf-file", "Qwen3-8B-Q8_0.gguf").out)
    assert data["model"]["quantization"]["scheme"] == "Q8_0" and data["model"]["weights_bytes"] == 8_709_519_168


def test_an_unknown_quant_is_one_sentence_naming_what_there_is(gguf_repo, cli):
    err = one_sentence_error(cli("check", REPO, *GB10, "--quant", "Q3_K_XL"))
    assert "has no GGUF quant type 'Q3_K_XL'" in err and "Qwen3-8B-Q8_0.gguf (Q8_0)" in err


def test_quant_on_a_repo_without_gguf_is_one_sentence(hub, cli):
    err = one_sentence_error(cli("check", "RedHatAI/Qwen3-8B-NVFP4", *GB10, "--quant", "Q4_K_M"))
    assert "holds no GGUF files" in err


def test_a_repo_with_no_fitting_variant(hub, tmp_path, cli):
    _add_qwen3_repo(hub, tmp_path, "bartowski/Huge-GGUF", scale=40)  # 200+ GB per variant
    r = cli("check", "bartowski/Huge-GGUF", *GB10)
    data = json.loads(r.out)
    variants = data["model"]["gguf_variants"]
    assert [v["fits"] for v in variants] == [False] * 4 and len(variants) == 4
    assert all(v["needs_bytes"] > v["size_bytes"] for v in variants)
    assert data["verdict"] == "incompatible" and r.code == 2
    # One sentence says so, naming the smallest variant and what it needs; the plan is for that one.
    first = data["findings"][0]
    assert first["rule"] == "gguf-no-variant-fits"
    assert first["title"].startswith("No GGUF variant of bartowski/Huge-GGUF fits here: the smallest, "
                                     "Qwen3-8B-Q4_K_M.gguf (Q4_K_M, 187.3 GiB), needs ")
    assert "4,096-token context, and the budget is 101.6 GiB" in first["title"]
    assert data["model"]["gguf_file"] == "Qwen3-8B-Q4_K_M.gguf"
    text = cli("check", "bartowski/Huge-GGUF", "--engine", "llamacpp", "--hardware", "gb10").out
    assert "No GGUF variant of bartowski/Huge-GGUF fits here" in text


def test_a_local_gguf_file_and_folder(hub, tmp_path, cli):
    folder = tmp_path / "models"
    folder.mkdir()
    qwen3_gguf(folder / "Qwen3-8B-Q8_0.gguf", "Q8_0")
    qwen3_gguf(folder / "Qwen3-8B-Q4_K_M.gguf", "Q4_K_M")
    one = json.loads(cli("check", str(folder / "Qwen3-8B-Q8_0.gguf"), *GB10).out)["model"]
    assert (one["source"], one["architecture"], one["quantization"]["scheme"]) == ("local", "qwen3", "Q8_0")
    both = json.loads(cli("check", str(folder), *GB10).out)["model"]
    assert both["quantization"]["scheme"] == "Q4_K_M" and len(both["gguf_variants"]) == 2
    assert hub.requests == []


def test_a_file_that_is_not_gguf_is_one_sentence(hub, tmp_path, cli):
    bad = tmp_path / "broken-Q4_K_M.gguf"
    bad.write_bytes(b"<html>not a model</html>" * 10)
    err = one_sentence_error(cli("check", str(bad), *GB10))
    assert "is not a GGUF file" in err


def test_the_emulator_answers_range_requests(gguf_repo):
    url = f"{gguf_repo.url}/{REPO}/resolve/main/Qwen3-8B-Q4_K_M.gguf"
    r = httpx.get(url, headers={"Range": "bytes=0-3"}, timeout=5)
    assert r.status_code == 206 and r.content == b"GGUF"
    assert r.headers["Content-Range"] == "bytes 0-3/5027783488"
    assert gguf_repo.bytes_sent["Qwen3-8B-Q4_K_M.gguf"] == 4


def test_check_plans_llamacpp_with_its_own_accounting(gguf_repo, cli):
    data = json.loads(cli("check", REPO, *GB10, "--quant", "Q4_K_M").out)
    mem, launch = data["memory"], data["launch"]["argv"]
    lc = mem["llamacpp"]
    # llama-server's defaults: the model's whole context, 4 slots sharing one unified f16 cache, all layers on the GPU.
    assert (lc["n_ctx"], lc["n_parallel"], lc["kv_unified"], lc["cache_type_k"], lc["n_gpu_layers"]) == (
        40960, 4, True, "f16", "all")
    assert lc["kv_cache_bytes"] == mem["kv_cache_bytes"] == 40960 * 36 * 8 * 128 * 2 * 2
    assert mem["weights_bytes"] == 5_027_783_488  # the file's bytes, not vLLM's loaded figure
    assert mem["overhead_bytes"] == lc["compute_bytes"] + lc["cuda_context_bytes"]
    assert mem["max_model_len"] == 40960 and mem["max_model_len_source"] == "model" and mem["fits"] is True
    assert not any("vLLM's accounting" in a for a in mem["assumptions"])
    assert any("unified memory" in a and "page cache" in a for a in mem["assumptions"])
    assert launch[:5] == ["llama-server", "--hf-repo", REPO, "--hf-file", "Qwen3-8B-Q4_K_M.gguf"]
    assert launch[launch.index("-c") + 1] == "40960" and "--metrics" in launch and "-ngl" in launch
    assert "-np" not in launch and "-ctk" not in launch  # llama-server's defaults are not repeated


def test_llamacpp_slots_and_quantized_cache_reach_the_plan_and_the_command(gguf_repo, cli):
    data = json.loads(cli("check", REPO, *GB10, "--quant", "Q4_K_M", "--max-num-seqs", "2",
                          "--kv-cache-dtype", "q8_0", "--max-model-len", "8192").out)
    lc, argv = data["memory"]["llamacpp"], data["launch"]["argv"]
    assert (lc["n_ctx"], lc["n_parallel"], lc["kv_unified"], lc["cache_type_k"], lc["cache_type_v"]) == (
        8192, 2, False, "q8_0", "q8_0")
    assert lc["kv_cache_bytes"] == 8192 * 36 * (8 * 128 // 32 * 34) * 2  # q8_0: 34 bytes per 32 values
    for flag, value in (("-c", "8192"), ("-np", "2"), ("-ctk", "q8_0"), ("-ctv", "q8_0")):
        assert argv[argv.index(flag) + 1] == value


def test_a_kv_cache_type_of_the_other_engine_is_one_sentence(gguf_repo, cli):
    err = one_sentence_error(cli("check", REPO, *GB10, "--kv-cache-dtype", "fp8"))
    assert "llama.cpp has no KV cache type 'fp8'" in err
    err = one_sentence_error(cli("check", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--kv-cache-dtype",
                                 "q8_0"))
    assert "is a llama.cpp cache type" in err


def test_the_default_variant_is_the_largest_that_fits(hub, tmp_path, cli):
    # ×7: Q4_K_M 35 GB, Q6_K 47 GB, Q8_0 61 GB, BF16 116 GB; GB10's budget is 101.6 GiB (109 GB).
    _add_qwen3_repo(hub, tmp_path, "bartowski/Big-GGUF", scale=7)
    data = json.loads(cli("check", "bartowski/Big-GGUF", *GB10).out)
    m = data["model"]
    fits = {v["quant"]: v["fits"] for v in m["gguf_variants"]}
    assert fits == {"Q4_K_M": True, "Q6_K": True, "Q8_0": True, "BF16": False}
    assert m["quantization"]["scheme"] == "Q8_0" and m["gguf_file"] == "Qwen3-8B-Q8_0.gguf"
    assert any("planned for Qwen3-8B-Q8_0.gguf (Q8_0, the largest that fits)" in n for n in m["notes"])
    assert data["launch"]["argv"][4] == "Qwen3-8B-Q8_0.gguf"
    # What the user asks for is planned, fitting or not.
    asked = json.loads(cli("check", "bartowski/Big-GGUF", *GB10, "--quant", "BF16").out)
    assert asked["model"]["quantization"]["scheme"] == "BF16" and asked["memory"]["fits"] is False
