"""The refreshed vLLM knowledge end to end: `spark-tui check --json` against the Hub emulator gives advice that
depends on the vLLM version being advised for, and a launch plan never sets a variable that version ignores."""

from __future__ import annotations

import json

import pytest

# Variables vLLM deprecated in 0.22 (PR #43148) and reports as unknown, and ignores, from 0.24.0.
REMOVED_IN_0_24 = {"VLLM_FLASHINFER_MOE_BACKEND", "VLLM_USE_FLASHINFER_MOE_FP4", "VLLM_MXFP4_USE_MARLIN"}


@pytest.fixture
def check(cli):
    def run(repo: str, version: str, hardware: str = "gb10") -> dict:
        r = cli("check", repo, "--hardware", hardware, "--engine-version", version, "--json")
        assert r.code in (0, 1, 2), (r.out, r.err)
        return json.loads(r.out)

    return run


def rule_ids(data: dict) -> set[str]:
    return {f["rule"] for f in data["findings"]}


def from_rule(data: dict, rule: str) -> list[str]:
    """What one rule added to the launch plan, e.g. ["--moe-backend b12x"] or ["VLLM_USE_DEEP_GEMM=0"]."""
    return [note.split(": ", 1)[1] for note in data["launch"]["notes"] if note.startswith(f"added by rule {rule}:")]


def test_an_nvfp4_moe_on_gb10_is_advised_differently_for_0_21_and_0_34(check):
    old, new = (check("RedHatAI/Qwen3-30B-A3B-NVFP4", v) for v in ("0.21.0", "0.34.0"))
    assert old["engine"]["version"] == "0.21.0" and new["engine"]["version"] == "0.34.0"
    # b12x, vLLM's native SM12x FP4 MoE backend, exists from 0.29.0 and is never picked on its own (#54666)
    assert "vllm-sm12x-b12x-moe-not-automatic" in rule_ids(new) - rule_ids(old)
    b12x = next(f for f in new["findings"] if f["rule"] == "vllm-sm12x-b12x-moe-not-automatic")
    assert "--moe-backend b12x" in b12x["fix"] and any(r["number"] == 54666 for r in b12x["references"])
    # what both versions share is still said for both
    assert {"vllm-sm121-missing-moe-kernels", "vllm-ct-nvfp4-moe-gated"} <= rule_ids(old) & rule_ids(new)


@pytest.mark.parametrize(("version", "env", "flags"), [
    ("0.14.0", {"VLLM_USE_FLASHINFER_MOE_FP4": "1", "VLLM_FLASHINFER_MOE_BACKEND": "throughput"}, []),
    ("0.21.0", {}, ["--moe-backend", "flashinfer_cutlass"]),
    ("0.34.0", {}, ["--moe-backend", "flashinfer_cutlass"]),
])
def test_modelopt_nongated_nvfp4_moe_gets_variables_or_the_flag_by_version(check, version, env, flags):
    data = check("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4", version)
    assert "vllm-modelopt-nvfp4-nongated-moe" in rule_ids(data)
    launch = data["launch"]
    assert launch["env"] == env
    argv = launch["argv"]
    assert (argv[argv.index("--moe-backend"):argv.index("--moe-backend") + 2] if flags else
            "--moe-backend" not in argv) == (flags or True)


@pytest.mark.parametrize("repo", ["nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4", "RedHatAI/Qwen3-30B-A3B-NVFP4",
                                  "openai/gpt-oss-120b", "Qwen/Qwen3-30B-A3B-FP8"])
@pytest.mark.parametrize("version", ["0.24.0", "0.34.0"])
def test_no_launch_plan_sets_a_variable_vllm_0_24_and_later_ignore(check, repo, version):
    assert not REMOVED_IN_0_24 & set(check(repo, version)["launch"]["env"])


def test_gpt_oss_on_gb10_gets_b12x_only_where_vllm_has_it(check):
    old, new = (check("openai/gpt-oss-120b", v) for v in ("0.28.0", "0.29.0"))
    for data in (old, new):  # #37030 is reported on every version: say it on both
        assert "vllm-gb10-gpt-oss-marlin-first-token" in rule_ids(data)
    assert from_rule(old, "vllm-gb10-gpt-oss-marlin-first-token") == []
    assert "--moe-backend" not in old["launch"]["argv"]
    assert from_rule(new, "vllm-gb10-gpt-oss-marlin-first-token") == ["--moe-backend b12x"]
    assert new["launch"]["argv"][-2:] == ["--moe-backend", "b12x"]


def test_gpt_oss_on_an_rtx_pro_6000_gets_no_b12x_flag(check):
    data = check("openai/gpt-oss-120b", "0.34.0", hardware="rtx-pro-6000")
    assert "vllm-gb10-gpt-oss-marlin-first-token" not in rule_ids(data)
    assert "vllm-mxfp4-sm12x-marlin" in rule_ids(data) and "--moe-backend" not in data["launch"]["argv"]


def test_block_fp8_on_gb10_swaps_the_sm120_guard_for_deepgemm_at_0_22_and_0_24(check):
    old, mid, new = (check("Qwen/Qwen3-30B-A3B-FP8", v) for v in ("0.21.0", "0.23.0", "0.34.0"))
    assert "vllm-gb10-fp8-sm120-only-trap" in rule_ids(old)
    assert not {"vllm-gb10-fp8-sm120-only-trap", "vllm-gb10-deepgemm-fp8-block"} & rule_ids(mid)
    assert "vllm-gb10-deepgemm-fp8-block" in rule_ids(new) - rule_ids(old)
    assert new["launch"]["env"] == {"VLLM_USE_DEEP_GEMM": "0"} and old["launch"]["env"] == {}


def test_nongated_compressed_tensors_nvfp4_is_refused_only_before_0_16(check):
    old, new = (check("Firworks/NVIDIA-Nemotron-3-Nano-30B-A3B-nvfp4", v) for v in ("0.14.0", "0.16.0"))
    assert old["verdict"] == "incompatible" and old["findings"][0]["rule"] == "vllm-ct-nvfp4-moe-nongated"
    assert new["verdict"] == "caution" and "vllm-ct-nvfp4-moe-nongated" not in rule_ids(new)
    assert "vllm-ct-nvfp4-moe-nongated-untested" in rule_ids(new)


def test_gguf_on_vllm_is_a_warning_that_names_the_plugin_from_0_24(cli):
    def findings(version: str) -> dict:
        r = cli("check", "unsloth/Qwen3-8B-GGUF", "--hardware", "gb10", "--engine-version", version, "--json")
        return {f["rule"]: f for f in json.loads(r.out)["findings"]}

    old, new = findings("0.23.0"), findings("0.24.0")
    assert old["vllm-gguf-only-repo"]["severity"] == "warning" and "vllm-gguf-plugin" not in old
    assert new["vllm-gguf-plugin"]["severity"] == "warning" and "vllm-gguf-only-repo" not in new
    assert "pip install vllm-gguf-plugin" in new["vllm-gguf-plugin"]["fix"]
    assert "unsloth/Qwen3-8B-GGUF:Q4_K_M" in new["vllm-gguf-plugin"]["fix"]  # {repo} filled in
