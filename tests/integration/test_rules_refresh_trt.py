"""The December 2026 refresh, end to end through `spark-tui check`: TensorRT-LLM, unified memory and llama.cpp
advice follows the engine version, and without --engine-version it is the advice for the newest known release."""

from __future__ import annotations

import json

import pytest

from spark_tui.engines.versions import known_engines

NVFP4_MOE = "RedHatAI/Qwen3-30B-A3B-NVFP4"


def check(cli, *args: str) -> tuple[int, dict]:
    r = cli("check", *args, "--json")
    assert "Traceback" not in r.err, r.err
    return r.code, json.loads(r.out)


def rule_ids(data: dict) -> set[str]:
    return {f["rule"] for f in data["findings"]}


def test_newest_known_versions_are_the_evidenced_releases():
    newest = {name: info.newest_known for name, info in known_engines().items()}
    assert newest == {"vllm": "0.34.0", "trtllm": "1.4.0rc1", "llamacpp": "12464"}


def test_trtllm_without_a_version_advises_for_the_newest_release(cli):
    code, data = check(cli, NVFP4_MOE, "--hardware", "gb10", "--engine", "trtllm")
    assert data["engine"] == {"name": "trtllm", "version": "1.4.0rc1", "version_source": "assumed"}
    ids = rule_ids(data)
    # Fixed by 1.3.0rc17 (CUTLASS 4.4.2, tile filter, FlashInfer b12x decode) and specific to rc15.
    assert not ids & {"trtllm-sm12x-cutlass-moe-slow", "trtllm-gb10-slower-than-alternatives",
                      "trtllm-gb10-rc15-moe-load-hang", "trtllm-gb10-rc15-mtp-ptxas"}
    assert {"trtllm-gb10-memory-oom", "trtllm-compressed-tensors-checkpoint"} <= ids
    assert code == 1 and data["verdict"] == "caution"


def test_trtllm_rc15_on_gb10_is_the_cold_start_hang(cli):
    code, data = check(cli, NVFP4_MOE, "--hardware", "gb10", "--engine", "trtllm", "--engine-version", "1.3.0rc15")
    assert code == 2 and data["verdict"] == "incompatible"
    hang = data["findings"][0]
    assert hang["rule"] == "trtllm-gb10-rc15-moe-load-hang"
    assert any(ref["url"].endswith("/issues/14500") and ref["state"] == "open" for ref in hang["references"])
    assert {"trtllm-sm12x-cutlass-moe-slow", "trtllm-gb10-rc15-mtp-ptxas"} <= rule_ids(data)


def test_trtllm_rc12_has_the_slow_moe_but_not_the_hang(cli):
    code, data = check(cli, NVFP4_MOE, "--hardware", "gb10", "--engine", "trtllm", "--engine-version", "1.3.0rc12")
    ids = rule_ids(data)
    assert "trtllm-sm12x-cutlass-moe-slow" in ids
    assert not ids & {"trtllm-gb10-rc15-moe-load-hang", "trtllm-gb10-rc15-mtp-ptxas"}
    assert code == 1


@pytest.mark.parametrize(("version", "fires"), [("1.2.0rc0", True), ("1.2.0rc1", False)])
def test_gpt_oss_attention_sinks_fixed_in_1_2_0rc1(cli, version, fires):
    code, data = check(cli, "openai/gpt-oss-20b", "--hardware", "gb10", "--engine", "trtllm",
                       "--engine-version", version)
    assert ("trtllm-sm12x-attention-sinks" in rule_ids(data)) is fires
    assert (code == 2) is fires


def test_fp8_block_scales_on_gb10_warn_for_trtllm_only(cli):
    _, gb10 = check(cli, "Qwen/Qwen3-30B-A3B-FP8", "--hardware", "gb10", "--engine", "trtllm")
    assert gb10["model"]["quantization"]["scheme"] == "fp8-block"
    assert "trtllm-sm121-fp8-block-scales" in rule_ids(gb10)
    _, vllm = check(cli, "Qwen/Qwen3-30B-A3B-FP8", "--hardware", "gb10", "--engine", "vllm")
    assert "trtllm-sm121-fp8-block-scales" not in rule_ids(vllm)


@pytest.mark.parametrize(("version", "fires"), [("0.33.0", True), ("0.34.0", False)])
def test_vllm_start_up_check_advice_ends_at_0_34(cli, version, fires):
    _, data = check(cli, NVFP4_MOE, "--hardware", "gb10", "--engine-version", version)
    assert ("vllm-uma-startup-check" in rule_ids(data)) is fires
    assert "gb10-planned-utilization" in rule_ids(data)  # utilization still does not bound profiling (#46307)


def test_vllm_without_a_version_is_0_34_and_skips_the_start_up_advice(cli):
    _, data = check(cli, NVFP4_MOE, "--hardware", "gb10")
    assert data["engine"]["version"] == "0.34.0" and data["engine"]["version_source"] == "assumed"
    assert "vllm-uma-startup-check" not in rule_ids(data)


def test_llamacpp_mxfp4_gguf_on_gb10_says_how_to_build(cli):
    code, data = check(cli, "ggml-org/gpt-oss-20b-GGUF", "--hardware", "gb10", "--engine", "llamacpp")
    assert data["engine"] == {"name": "llamacpp", "version": "12464", "version_source": "assumed"}
    build = next(f for f in data["findings"] if f["rule"] == "llamacpp-sm12x-native-mxfp4-arch")
    assert "121a-real" in build["fix"] and build["severity"] == "info"
    assert "llamacpp-gb10-uma-memory-probe" in rule_ids(data)
    # No config.json, but the GGUF header gives the facts; an info finding does not change the verdict.
    assert code == 0 and data["verdict"] == "ok"
    assert data["model"]["quantization"]["scheme"] == "MXFP4" and data["model"]["num_experts"] == 32


def test_llamacpp_q4_gguf_gets_no_mxfp4_build_advice(cli):
    _, data = check(cli, "unsloth/Qwen3-8B-GGUF", "--hardware", "gb10", "--engine", "llamacpp")
    assert "llamacpp-sm12x-native-mxfp4-arch" not in rule_ids(data)
    assert "llamacpp-gb10-uma-memory-probe" in rule_ids(data)


def test_uma_probe_rule_explains_the_log_line(cli):
    r = cli("rules", "show", "llamacpp-gb10-uma-memory-probe", "--json")
    assert r.code == 0, r.err
    rule = json.loads(r.out)
    assert any("busy or unavailable" in p for p in rule["log_patterns"])
