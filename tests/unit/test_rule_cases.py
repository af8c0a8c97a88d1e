"""Every rule's own cases ([[rule.cases]]) hold, and version-dependent launch suggestions ([[rule.launch]])."""

from __future__ import annotations

from pathlib import Path

import pytest

from spark_tui.rules import builtin_rule_paths, evaluate, load_rules
from spark_tui.rules.cases import case_failures

BUILTIN = load_rules(builtin_rule_paths())


@pytest.mark.parametrize("rule", BUILTIN.rules, ids=[r.id for r in BUILTIN.rules])
def test_every_case_of_every_builtin_rule(rule):
    assert case_failures(rule) == []


RULE = '''
[[rule]]
id = "local-moe-backend"
title = "t"
severity = "warning"
detail = "d"
fix = "f"
references = []
[rule.when]
engine = "vllm"
moe = true
[[rule.launch]]
engine_version = "<0.17"
env = { VLLM_USE_FLASHINFER_MOE_FP4 = "1" }
[[rule.launch]]
engine_version = ">=0.17"
flags = ["--moe-backend", "flashinfer_cutlass"]
[[rule.cases]]
name = "a MoE on vLLM"
fires = true
[rule.cases.facts]
engine = "vllm"
moe = true
[[rule.cases]]
name = "a dense model"
fires = false
[rule.cases.facts]
engine = "vllm"
moe = false
'''


def test_cases_are_loaded_with_their_lines_and_run(tmp_path: Path):
    path = tmp_path / "mine.toml"
    path.write_text(RULE)
    result = load_rules([path])
    assert result.problems == []
    rule = result.rules[0]
    assert [(c.name, c.fires, c.line) for c in rule.cases] == [("a MoE on vLLM", True, 18),
                                                                ("a dense model", False, 24)]
    assert case_failures(rule) == []
    path.write_text(RULE.replace("name = \"a dense model\"\nfires = false", "name = \"a dense model\"\nfires = true"))
    broken = load_rules([path]).rules[0]
    assert case_failures(broken) == [f"{path}:24: cases: local-moe-backend case 2 (a dense model) should fire, "
                                     "but it does not"]


def test_case_facts_must_be_facts(tmp_path: Path):
    path = tmp_path / "mine.toml"
    path.write_text(RULE.replace("moe = false", "mixture = false"))
    result = load_rules([path])
    assert result.rules == [] and "case facts name no fact: 'mixture'" in result.problems[0]


@pytest.mark.parametrize(("version", "env", "flags"), [
    ("0.14.0", {"VLLM_USE_FLASHINFER_MOE_FP4": "1"}, ()),
    ("0.34.0", {}, ("--moe-backend", "flashinfer_cutlass")),
    (None, {}, ()),  # an unknown version gets nothing a release may ignore
])
def test_launch_suggestions_follow_the_engine_version(tmp_path: Path, version, env, flags):
    path = tmp_path / "mine.toml"
    path.write_text(RULE)
    rule = load_rules([path]).rules[0]
    [finding] = evaluate([rule], {"engine": "vllm", "moe": True, "engine_version": version})
    assert (finding.launch_env, finding.launch_flags) == (env, flags)


def test_a_versioned_suggestion_is_checked_like_any_other(tmp_path: Path):
    path = tmp_path / "mine.toml"
    path.write_text(RULE.replace('flags = ["--moe-backend", "flashinfer_cutlass"]', 'flags = ["--host", "0.0.0.0"]'))
    result = load_rules([path])
    assert result.rules == [] and "launch: flags:" in result.problems[0] and "--host" in result.problems[0]
