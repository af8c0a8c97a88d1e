"""`rules lint`: every problem at once, each at its line; the closed sets match the code that makes the facts;
the structural backtracking check; launch settings and the engine versions that read them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spark_tui.advisor.launch import launch_plan
from spark_tui.advisor.types import ENGINES, PlanOptions
from spark_tui.hub import arch, quant
from spark_tui.rules import builtin_rule_paths, evaluate, knobs, load_rules
from spark_tui.rules.checks import backtracking_problem, placeholder_problem
from spark_tui.rules.evaluate import Finding
from spark_tui.rules.facts import CLOSED_VALUES, CONTEXT_KEYS, KNOWN_VALUES
from spark_tui.rules.lint import lint

BROKEN = Path(__file__).resolve().parent.parent / "fixtures" / "rules-broken"


def planted() -> list[tuple[Path, int, str]]:
    found = []
    for path in sorted(BROKEN.glob("*.toml")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "# expect: " in line:
                found += [(path, number, text.strip()) for text in line.split("# expect: ", 1)[1].split(" | ")]
    return found


def test_every_planted_problem_is_reported_at_its_line_and_nothing_else():
    report = lint(BROKEN)
    expected = planted()
    assert len(expected) >= 25
    for path, number, text in expected:
        prefix = f"{path}:{number}: "
        assert any(p.startswith(prefix) and text in p for p in report.problems), (prefix, text, report.problems)
    assert len(report.problems) == len(expected), report.problems
    assert report.exit_code == 1
    lines = [(p.split(":")[0], int(p.split(":")[1])) for p in report.problems]
    assert lines == sorted(lines)  # in file order, then line order


def test_an_unreadable_path_is_exit_3_and_a_missing_one_too(tmp_path: Path):
    import os

    os.mkfifo(tmp_path / "pipe.toml")
    assert lint(tmp_path / "pipe.toml").exit_code == 3
    missing = lint(tmp_path / "nope.toml")
    assert missing.exit_code == 3 and missing.problems == [f"{tmp_path / 'nope.toml'}: no such rules file or folder"]
    # A problem inside a file (here its encoding) is a problem at a line, not an unreadable path.
    (tmp_path / "latin1.toml").write_bytes(b'[[rule]]\nid = "caf\xe9"\n')
    assert lint(tmp_path / "latin1.toml").exit_code == 1


CLEAN = '''
[[rule]]
id = "local-clean"
title = "MoE on vLLM with {quant_scheme_text} weights and {max_model_len} tokens"
severity = "info"
detail = "d"
fix = "f"
[rule.when]
engine = "vllm"
moe = true
[[rule.references]]
url = "https://github.com/vllm-project/vllm/issues/37030"
label = "vLLM #37030"
number = 37030
state = "open"
[[rule.launch]]
engine_version = ">=0.17,<0.24"
env = { VLLM_FLASHINFER_MOE_BACKEND = "throughput" }
flags = ["--moe-backend", "flashinfer_cutlass"]
[[rule.launch]]
engine_version = ">=0.29"
flags = ["--moe-backend", "b12x"]
[[rule.cases]]
fires = true
facts = { engine = "vllm", moe = true, engine_version = "0.21.0", compute_capability = "12.1" }
[[rule.cases]]
fires = false
facts = { engine = "vllm", moe = false }
'''


def test_a_clean_user_file_is_exit_0(tmp_path: Path):
    path = tmp_path / "mine.toml"
    path.write_text(CLEAN)
    report = lint(path)
    assert (report.problems, report.exit_code, report.rules) == ([], 0, 1)


@pytest.mark.parametrize(("original", "change", "problem"), [
    ("fires = false\nfacts = { engine = \"vllm\", moe = false }",
     "fires = true\nfacts = { engine = \"vllm\", moe = false }", "local-clean case 2 should fire, but it does not"),
    ('engine_version = ">=0.29"', 'engine_version = ">=0.28"', "--moe-backend b12x is read only by vllm >=0.29"),
    ('engine_version = ">=0.17,<0.24"', 'engine_version = ">=0.17,<0.25"',
     "VLLM_FLASHINFER_MOE_BACKEND=throughput is read only by vllm <0.24"),
    ('engine_version = ">=0.17,<0.24"', 'engine_version = ">=0.16,<0.24"',
     "--moe-backend flashinfer_cutlass is read only by vllm >=0.17"),
    ('state = "open"', 'state = "opne"', "'opne' is not a reference state; did you mean 'open'?"),
    ("number = 37030", 'number = "#37030"', "references.number: must be an integer"),
])
def test_each_check_can_fail(tmp_path: Path, original, change, problem):
    path = tmp_path / "mine.toml"
    assert original in CLEAN
    path.write_text(CLEAN.replace(original, change, 1))
    problems = lint(path).problems
    assert len(problems) == 1 and problem in problems[0], problems


def test_a_rule_needs_a_firing_and_a_non_firing_case_but_a_log_only_rule_none(tmp_path: Path):
    path = tmp_path / "mine.toml"
    path.write_text(CLEAN.split("[[rule.cases]]")[0] + "[[rule.cases]]\nfires = true\n"
                    "facts = { engine = \"vllm\", moe = true }\n")
    [problem] = lint(path).problems
    assert problem == (f"{path}:2: cases: local-clean has no case that does not fire; add [[rule.cases]] tables "
                       "with fires = true and fires = false and the facts each is judged on")
    path.write_text('[[rule]]\nid = "local-log"\ntitle = "t"\nseverity = "info"\ndetail = "d"\nfix = "f"\n'
                    'references = []\nwhen = {}\nlog_patterns = ["Unknown vLLM environment variable detected"]\n')
    assert lint(path).problems == []


def test_duplicates_of_built_in_ids_are_only_a_problem_outside_the_built_in_set(tmp_path: Path):
    path = tmp_path / "mine.toml"
    path.write_text(CLEAN.replace("local-clean", "remote-code"))
    assert lint(path).problems == [f"{path}:2: id: 'remote-code' is already a built-in rule's id (check would ignore "
                                   "this one); choose another id"]


def test_lint_on_the_built_in_rules_is_clean():
    report = lint(None)
    assert report.problems == [] and report.exit_code == 0


# --- the closed sets are the values the code produces ---

def test_closed_sets_match_the_code_that_makes_the_facts():
    assert set(CLOSED_VALUES["engine"]) == set(ENGINES) == set(knobs.FLAGS)
    schemes = set(quant._SCHEME_BITS) | set(quant._ALGO_SCHEMES.values())
    assert schemes <= set(CLOSED_VALUES["quant_scheme"])
    source = Path(quant.__file__).read_text()
    methods = set(re.findall(r'_finish\("([\w-]+)"', source))
    assert methods and methods <= set(CLOSED_VALUES["quant_method"])
    problem_kinds = set(re.findall(r'problem_kind="([\w-]+)"', source))
    assert problem_kinds and problem_kinds <= set(CLOSED_VALUES["quant_problem"])
    assert set(KNOWN_VALUES["model_type"]) >= arch.MLA_MODEL_TYPES


def test_every_value_the_advisor_fills_is_a_known_placeholder():
    from spark_tui.advisor import _context, rule_facts
    from spark_tui.advisor.memory import plan_memory
    from spark_tui.hardware import resolve_hardware
    from spark_tui.hub.facts import build_model_facts
    from tests.support import fixture_repos as fr

    model = build_model_facts("org/m", source="hub", revision="x", api={}, config=fr.config("Qwen__Qwen3-8B"),
                              hf_quant_config=None, files=[("model.safetensors", 16 * 1024**3)])
    options = PlanOptions(engine_version="0.28.0")
    memory = plan_memory(model, resolve_hardware("gb10"), options)
    facts = rule_facts(model, resolve_hardware("gb10"), options, memory)
    assert set(_context(model, memory, facts)) == set(CONTEXT_KEYS)
    assert placeholder_problem("{startup_free_gib} {weights_gib} {engine_version}") is None
    assert "{budget}" in str(placeholder_problem("{budget}"))


@pytest.mark.parametrize(("pattern", "caught"), [
    ("(a+)+", True), ("(.*)*", True), (r"(\w+\s?)*", True), ("((ab)+)+", True), ("(?:x+x+)+", True),
    ("(a{1,})+", True), ("(?P<n>a*)*$", True),
    ("(a+b)+", False), (r"(\w+\s)+", False), ("(a{3})+", False), (r"cuda capability 12\.1", False),
    (r"[(+]+", False), (r"\(a+\)+", False),
])
def test_the_backtracking_check(pattern, caught):
    assert (backtracking_problem(pattern) is not None) is caught


# --- a launch plan never sets what the chosen engine version does not read ---

def moe_finding() -> Finding:
    return Finding("moe-rule", "warning", "t", "d", "f", (), "open", None,
                   {"VLLM_FLASHINFER_MOE_BACKEND": "throughput", "VLLM_USE_DEEP_GEMM": "0"},
                   ("--moe-backend", "b12x"))


@pytest.mark.parametrize(("version", "env", "flags"), [
    ("0.16.0", {"VLLM_FLASHINFER_MOE_BACKEND": "throughput", "VLLM_USE_DEEP_GEMM": "0"}, []),
    ("0.23.0", {"VLLM_FLASHINFER_MOE_BACKEND": "throughput", "VLLM_USE_DEEP_GEMM": "0"}, []),
    ("0.26.0", {"VLLM_USE_DEEP_GEMM": "0"}, []),
    ("0.29.0", {"VLLM_USE_DEEP_GEMM": "0"}, ["--moe-backend", "b12x"]),
    (None, {"VLLM_USE_DEEP_GEMM": "0"}, []),  # unknown: only what every release reads
])
def test_the_plan_drops_what_the_version_does_not_read(version, env, flags):
    from tests.unit.test_rules_hostile import MODEL as model

    plan = launch_plan(model, PlanOptions(engine_version=version), None, [moe_finding()])
    assert plan.env == env
    assert [t for t in plan.argv if t in ("--moe-backend", "b12x")] == flags
    if version == "0.26.0":
        assert ("dropped from rule moe-rule: VLLM_FLASHINFER_MOE_BACKEND=throughput (vllm 0.26.0 does not read it; "
                "only vllm <0.24 does)") in plan.notes
        assert "dropped from rule moe-rule: --moe-backend b12x (vllm 0.26.0 does not read it; only vllm >=0.29 does)" \
            in plan.notes


def test_a_plan_for_0_26_never_holds_the_removed_variable_even_from_a_built_in_rule():
    from tests.unit.test_rules_hostile import MODEL as model

    rules = load_rules(builtin_rule_paths()).rules
    for version in ("0.24.0", "0.26.0", "0.34.0"):
        facts = {"engine": "vllm", "engine_version": version, "moe": True, "moe_gated": False,
                 "quant_method": "modelopt", "quant_scheme": ["nvfp4"], "compute_capability": "12.1",
                 "unified_memory": True, "hardware": "gb10"}
        findings = evaluate(rules, facts)
        plan = launch_plan(model, PlanOptions(engine_version=version), None, findings)
        assert not any(name.startswith("VLLM_FLASHINFER_MOE") or name == "VLLM_USE_FLASHINFER_MOE_FP4"
                       for name in plan.env), plan.env


def test_moe_backend_values_are_a_closed_set_with_a_suggestion():
    assert knobs.flag_groups("vllm", ["--moe-backend", "b12y"])[1] == \
        "'b12y' is not a --moe-backend value rules may suggest (did you mean 'b12x'?)"
    assert knobs.flag_groups("vllm", ["--moe-backend=flashinfer_cutlass"])[1] is None
