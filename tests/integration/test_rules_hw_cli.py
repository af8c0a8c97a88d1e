"""`spark-tui rules`, `rules show`, `rules lint` and `hw`."""

from __future__ import annotations

import json


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
    assert ("Suggests for launch (<0.17): VLLM_USE_FLASHINFER_MOE_FP4=1 VLLM_FLASHINFER_MOE_BACKEND=throughput\n"
            "Suggests for launch (>=0.17): --moe-backend flashinfer_cutlass\n") in r.out
    shown = json.loads(cli("rules", "show", "vllm-modelopt-nvfp4-nongated-moe", "--json").out)
    assert shown["launch"][1] == {"engine_version": ">=0.17", "env": {},
                                  "flags": ["--moe-backend", "flashinfer_cutlass"]}


def test_rules_lint(cli, tmp_path):
    assert cli("rules", "lint").code == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nid = "x"\ntitle = "t"\nseverity = "meh"\ndetail = "d"\nfix = "f"\nreferences = []\n'
                   '[rule.when]\nwhatever = 1\n')
    r = cli("rules", "lint", str(bad))
    assert r.code == 3
    assert f"{bad}:4: severity: must be one of error, warning, info" in r.out
    assert f"{bad}:9: when.whatever: unknown fact" in r.out


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
