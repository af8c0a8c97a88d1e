"""`spark-tui rules`, `rules show`, `rules lint` and `hw`."""

from __future__ import annotations

import json
from pathlib import Path


def test_rules_list_and_show(cli):
    r = cli("rules")
    assert r.code == 0 and "vllm-ct-nvfp4-moe-nongated" in r.out and "#31782" in r.out
    shown = cli("rules", "show", "vllm-ct-nvfp4-moe-nongated")
    assert shown.code == 0 and "https://github.com/vllm-project/vllm/issues/31782" in shown.out
    assert "is_act_and_mul=False" in shown.out and "Defined at" in shown.out
    data = json.loads(cli("rules", "show", "trtllm-sm12x-attention-sinks", "--json").out)
    assert data["fixed_in"].startswith("TensorRT-LLM 1.2.0") and data["references"][0]["number"] == 8474
    listing = json.loads(cli("rules", "--json").out)
    assert len(listing) >= 15 and all(rule["references"] is not None for rule in listing)


def test_rules_show_unknown_id_suggests(cli):
    r = cli("rules", "show", "vllm-ct-nvfp4-moe-nongate")
    assert r.code == 3 and "Did you mean vllm-ct-nvfp4-moe-nongated" in r.err and "Traceback" not in r.err


def test_rules_show_says_what_a_rule_adds_to_a_launch(cli):
    r = cli("rules", "show", "vllm-modelopt-nvfp4-nongated-moe")
    assert r.code == 0
    assert ("Suggests for vllm <0.17: VLLM_USE_FLASHINFER_MOE_FP4=1 VLLM_FLASHINFER_MOE_BACKEND=throughput\n"
            "Suggests for vllm >=0.17: --moe-backend flashinfer_cutlass\n") in r.out
    shown = json.loads(cli("rules", "show", "vllm-modelopt-nvfp4-nongated-moe", "--json").out)
    assert shown["launch"][1] == {"engine_version": ">=0.17", "env": {},
                                  "flags": ["--moe-backend", "flashinfer_cutlass"]}


def test_rules_lint(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nid = "x"\ntitle = "t"\nseverity = "meh"\ndetail = "d"\nfix = "f"\nreferences = []\n'
                   '[rule.when]\nwhatever = 1\n')
    r = cli("rules", "lint", str(bad))
    assert r.code == 1  # the contract: 0 clean, 1 problems, 3 PATH unreadable
    assert f"{bad}:4: severity: must be one of error, warning, info" in r.out
    assert f"{bad}:9: when.whatever: unknown fact" in r.out
    assert cli("rules", "lint", str(tmp_path / "nope.toml")).code == 3


def test_rules_show_and_json_give_cases_and_versioned_suggestions(cli, tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text(VERSIONED)
    shown = cli("rules", "--rules", str(mine), "show", "local-moe-backend")
    assert shown.code == 0, shown.err
    assert "Suggests for vllm <0.24: VLLM_FLASHINFER_MOE_BACKEND=throughput" in shown.out
    assert "Suggests for vllm >=0.29: --moe-backend b12x" in shown.out
    assert "Cases: 2 (1 fire, 1 do not)" in shown.out
    data = json.loads(cli("rules", "--rules", str(mine), "show", "local-moe-backend", "--json").out)
    assert data["cases"] == 2 and data["launch"][1] == {"engine_version": ">=0.29", "env": {},
                                                        "flags": ["--moe-backend", "b12x"]}
    listing = json.loads(cli("rules", "--rules", str(mine), "--json").out)
    assert next(r for r in listing if r["id"] == "local-moe-backend")["cases"] == 2


VERSIONED = """
[[rule]]
id = "local-moe-backend"
title = "t"
severity = "info"
detail = "d"
fix = "f"
references = []
[rule.when]
engine = "vllm"
model_type = "qwen3"
[[rule.launch]]
engine_version = "<0.24"
env = { VLLM_FLASHINFER_MOE_BACKEND = "throughput" }
[[rule.launch]]
engine_version = ">=0.29"
flags = ["--moe-backend", "b12x"]
[[rule.cases]]
fires = true
facts = { engine = "vllm", model_type = "qwen3" }
[[rule.cases]]
fires = false
facts = { engine = "llamacpp", model_type = "qwen3" }
"""


def test_check_gives_each_engine_version_its_own_launch_settings(cli, tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text(VERSIONED)
    plans = {}
    for version in ("0.21.0", "0.26.0", "0.33.0"):
        r = cli("check", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--json", "--rules", str(mine),
                "--engine-version", version)
        assert r.code in (0, 1), r.err
        plans[version] = json.loads(r.out)["launch"]
    assert plans["0.21.0"]["env"].get("VLLM_FLASHINFER_MOE_BACKEND") == "throughput"
    assert "--moe-backend" not in plans["0.21.0"]["argv"]
    for version in ("0.26.0", "0.33.0"):
        assert "VLLM_FLASHINFER_MOE_BACKEND" not in plans[version]["env"]
    assert plans["0.33.0"]["argv"][-2:] == ["--moe-backend", "b12x"]
    assert "--moe-backend" not in plans["0.26.0"]["argv"]
    text = cli("check", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--rules", str(mine),
               "--engine-version", "0.21.0")
    assert "(added by rule local-moe-backend: VLLM_FLASHINFER_MOE_BACKEND=throughput)" in text.out


def test_hw_without_a_gpu_plans_for_gb10(cli):
    data = json.loads(cli("hw", "--json").out)
    # CI and laptops have no NVIDIA driver: a normal case, never an error.
    if data["source"] == "profile":
        assert data["name"] == "gb10" and data["unified_memory"] is True
    assert data["memory_bytes"] and data["memory_bytes"] > 0


def test_hw_profile_and_list(cli):
    data = json.loads(cli("hw", "--hardware", "rtx-pro-6000", "--json").out)
    assert data["compute_capability"] == "12.0" and data["unified_memory"] is False
    listing = json.loads(cli("hw", "--list", "--json").out)
    assert {p["name"] for p in listing} >= {"gb10", "h100", "a10"}
    r = cli("hw", "--hardware", "nope")
    assert r.code == 3 and "Unknown hardware profile 'nope'" in r.err


def test_the_readme_rule_example_is_a_clean_rule(cli, tmp_path):
    """The anatomy example users copy from the README passes lint with its own cases."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("### Anatomy of a rule"):]
    example = section[section.index("```toml") + len("```toml"):section.index("```", section.index("```toml") + 7)]
    mine = tmp_path / "mine.toml"
    mine.write_text(example)
    r = cli("rules", "lint", str(mine))
    assert r.code == 0, r.out + r.err
    assert "every case holds" in r.out
