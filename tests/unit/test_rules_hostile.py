"""Hostile rules files: what a rule may put in a launch, and files that are not small UTF-8 text.

A rule may only suggest its engine's own tuning knobs; a file that is endless, huge, not a regular
file or not UTF-8 is one problem line with its name, and the other rules still load.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spark_tui.advisor.launch import launch_plan
from spark_tui.advisor.types import PlanOptions
from spark_tui.hub.facts import build_model_facts
from spark_tui.rules import evaluate, load_rules
from spark_tui.rules.evaluate import Finding
from tests.unit.test_rules_loader import GOOD


def rule(launch: str, when: str = 'engine = "vllm"', rule_id: str = "local-launch") -> str:
    return textwrap.dedent(f'''
        [[rule]]
        id = "{rule_id}"
        title = "t"
        severity = "info"
        detail = "d"
        fix = "f"
        references = []
        {launch}
        [rule.when]
        {when}
        ''')


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# --- what a rule may put in a launch ---

@pytest.mark.parametrize("flags", [
    '["--trust-remote-code"]',
    '["--host", "0.0.0.0"]',
    '["--port", "80"]',
    '["--api-key", "x"]',
    '["--ho", "0.0.0.0"]',  # argparse would take an abbreviation of --host
    '["--max-num-seqs", "--host"]',  # a flag hidden in a value
    '["/tmp/other-model"]',  # a bare value: vLLM would take it as the model
    '["--max-num-seqs", "8; rm -rf ~"]',
    '["--max-num-seqs", "../../x"]',
    '["--enforce-eager=1"]',  # a switch given a value
    '["--max-num-seqs"]',  # a flag missing its value
    '["--tokenizer", "/tmp/evil"]',
    '[8]',
])
def test_a_rule_cannot_set_a_flag_outside_the_engines_tuning_knobs(tmp_path, flags):
    text = GOOD + rule(f"launch_flags = {flags}")
    path = tmp_path / "evil.toml"
    path.write_text(text)
    result = load_rules([path])
    assert [r.id for r in result.rules] == ["local-good"]  # the hostile rule is refused; the other loads
    assert len(result.problems) == 1, result.problems
    assert result.problems[0].startswith(f"{path}:{line_of(text, 'launch_flags')}: launch_flags: ")


@pytest.mark.parametrize("name", ["LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONPATH", "PYTHONSTARTUP", "PATH",
                                  "HF_ENDPOINT", "HF_TOKEN", "VLLM_API_KEY", "TRITON_PTXAS_PATH"])
def test_a_rule_cannot_set_loader_interpreter_endpoint_or_secret_variables(tmp_path, name):
    text = GOOD + rule(f'[rule.launch_env]\nVLLM_USE_FLASHINFER_MOE_FP4 = "1"\n{name} = "/tmp/evil.so"')
    path = tmp_path / "evil.toml"
    path.write_text(text)
    result = load_rules([path])
    assert [r.id for r in result.rules] == ["local-good"]
    assert result.problems == [f"{path}:{line_of(text, name + ' =')}: launch_env.{name}: '{name}' is not a tuning "
                               f"variable rules may suggest for vllm (allowed: {_allowed_env('vllm')})."]


def _allowed_env(engine: str) -> str:
    from spark_tui.rules.knobs import ENV

    return ", ".join(sorted(ENV[engine]))


def test_inline_env_table_and_values_are_checked_too(tmp_path):
    text = rule('launch_env = { VLLM_FLASHINFER_MOE_BACKEND = "$(id)" }')
    path = tmp_path / "evil.toml"
    path.write_text(text)
    result = load_rules([path])
    assert result.rules == []
    assert len(result.problems) == 1 and result.problems[0].startswith(f"{path}:{line_of(text, 'launch_env')}: ")
    assert "'$(id)' is not a plain value" in result.problems[0]


def test_launch_settings_need_the_engine_they_are_for(tmp_path):
    # A knob of one engine must never land in another engine's command.
    text = rule('launch_flags = ["--enforce-eager"]', when='model_type = "qwen3"')
    other = rule('launch_flags = ["--enforce-eager"]', when='engine = ["vllm", "llamacpp"]', rule_id="local-two")
    path = tmp_path / "rules.toml"
    path.write_text(text + other)
    result = load_rules([path])
    assert result.rules == []
    problems = "\n".join(result.problems)
    assert "launch_flags: a rule that adds launch settings must name its engine in when.engine" in problems
    assert "'--enforce-eager' is not a tuning flag rules may suggest for llamacpp" in problems


def test_the_engines_own_tuning_knobs_still_load(tmp_path):
    text = (rule('launch_flags = ["--max-num-seqs", "8", "--enforce-eager", "--kv-cache-dtype=fp8"]\n'
                 '[rule.launch_env]\nVLLM_USE_FLASHINFER_MOE_FP4 = "1"')
            + rule('launch_flags = ["--max_batch_size", "16"]\nlaunch_env = { TRTLLM_MOE_BACKEND = "TRITON" }',
                   when='engine = "trtllm"', rule_id="local-trt")
            + rule('launch_flags = ["-ub", "2048", "--no-mmap"]', when='engine = "llamacpp"', rule_id="local-gguf"))
    path = tmp_path / "ok.toml"
    path.write_text(text)
    result = load_rules([path])
    assert result.problems == [] and len(result.rules) == 3


def test_every_builtin_launch_setting_is_on_the_allow_list():
    from spark_tui.rules import builtin_rule_paths

    result = load_rules(builtin_rule_paths())
    assert result.problems == []
    assert any(r.launch_env for r in result.rules)  # the allow-list is exercised by shipped rules


# --- the launch plan: only allowed knobs, each shown with the rule that added it ---

MODEL = build_model_facts("org/model", source="hub", revision=None, api=None, config=None, hf_quant_config=None)


def finding(rule_id: str, flags: tuple[str, ...] = (), env: dict[str, str] | None = None,
            severity: str = "info") -> Finding:
    return Finding(rule_id, severity, "t", "d", "f", (), "open", None, env or {}, flags)


def test_the_plan_drops_disallowed_settings_even_from_a_finding_that_skipped_the_loader():
    hostile = finding("evil", ("--host", "0.0.0.0", "--trust-remote-code"), {"LD_PRELOAD": "/tmp/x.so"})
    plan = launch_plan(MODEL, PlanOptions(), None, [hostile])
    assert plan.argv.count("--host") == 1 and "0.0.0.0" not in plan.argv
    assert "--trust-remote-code" not in plan.argv and "LD_PRELOAD" not in plan.env
    assert plan.from_rules == ()


def test_what_a_rule_adds_is_shown_as_coming_from_that_rule():
    first = finding("needs-seqs", ("--max-num-seqs", "8", "--enforce-eager"), {"VLLM_USE_FLASHINFER_MOE_FP4": "1"})
    second = finding("also-eager", ("--enforce-eager", "--kv-cache-dtype", "fp8"))
    plan = launch_plan(MODEL, PlanOptions(max_num_seqs=4, engine_version="0.21.0"), None, [first, second])
    # The plan's own --max-num-seqs 4 stands; the rule's 8 is not added (nor is its "8" lost elsewhere).
    assert plan.argv[plan.argv.index("--max-num-seqs") + 1] == "4" and "8" not in plan.argv
    assert plan.argv.count("--enforce-eager") == 1
    assert [(s.rule, s.kind, s.name, s.value) for s in plan.from_rules] == [
        ("needs-seqs", "env", "VLLM_USE_FLASHINFER_MOE_FP4", "1"),
        ("needs-seqs", "flag", "--enforce-eager", None),
        ("also-eager", "flag", "--kv-cache-dtype", "fp8"),
    ]
    assert "added by rule needs-seqs: VLLM_USE_FLASHINFER_MOE_FP4=1 --enforce-eager" in plan.notes
    assert "added by rule also-eager: --kv-cache-dtype fp8" in plan.notes


def test_a_loaded_rule_setting_reaches_the_plan_with_its_origin(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(rule('launch_flags = ["--enable-prefix-caching"]\n[rule.launch_env]\nVLLM_USE_DEEP_GEMM = "0"'))
    rules = load_rules([path]).rules
    findings = evaluate(rules, {"engine": "vllm"})
    plan = launch_plan(MODEL, PlanOptions(), None, findings)
    assert plan.env == {"VLLM_USE_DEEP_GEMM": "0"} and plan.argv[-1] == "--enable-prefix-caching"
    assert {s.rule for s in plan.from_rules} == {"local-launch"}


# --- files that are not small UTF-8 text ---

def test_non_utf8_file_is_one_problem_and_the_others_still_load(tmp_path):
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(rule("", rule_id="caf").replace('detail = "d"', 'detail = "caf\xe9"').encode("latin-1"))
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    result = load_rules([bad, good])
    assert [r.id for r in result.rules] == ["local-good"]
    line = line_of(bad.read_bytes().decode("latin-1"), "caf\xe9")
    assert result.problems == [f"{bad}:{line}: not UTF-8 text (byte 0xe9); save the file as UTF-8."]


def test_a_non_utf8_file_name_is_shown_without_breaking_the_output(tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    bad = Path(os.fsdecode(bytes(folder) + b"/caf\xe9.toml"))
    bad.write_bytes(b"not = [toml")
    result = load_rules([folder])
    assert len(result.problems) == 1
    result.problems[0].encode("utf-8")  # printable: no lone surrogates
    assert "caf\\xe9.toml:1: TOML syntax error" in result.problems[0]


def test_oversized_file_is_refused_without_reading_it_all(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text(GOOD + "#" * (1024 * 1024))
    result = load_rules([big, tmp_path / "missing.toml"])
    assert result.rules == []
    assert result.problems[0] == f"{big}: larger than 1 MiB; rules files must be smaller."


def test_directory_and_fifo_named_like_rules_files_are_not_read(tmp_path):
    (tmp_path / "folder.toml").mkdir()
    os.mkfifo(tmp_path / "pipe.toml")
    (tmp_path / "good.toml").write_text(GOOD)
    done = _in_a_small_process(_LOAD.format(folder=str(tmp_path)))  # a FIFO would block open() for ever
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["['local-good']", f"{tmp_path / 'pipe.toml'}: not a regular file; not read."]


_LOAD = """from pathlib import Path
from spark_tui.rules import load_rules
result = load_rules([Path({folder!r})])
print([r.id for r in result.rules])
print(*result.problems, sep="\\n")
"""


def _in_a_small_process(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `code` with 1 GiB of address space: an endless read fails fast instead of eating the machine."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1024**3, 1024**3))

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=limit)


def test_a_symlink_to_dev_zero_is_refused_at_once(tmp_path):
    zero = tmp_path / "zero.toml"
    zero.symlink_to("/dev/zero")
    (tmp_path / "good.toml").write_text(GOOD)
    done = _in_a_small_process(_LOAD.format(folder=str(tmp_path)))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["['local-good']", f"{zero}: not a regular file; not read."]


def test_problem_lines_never_carry_control_characters_from_the_file(tmp_path):
    path = tmp_path / "escape\x1b.toml"
    path.write_text(rule('launch_flags = ["--host\\u001b[2J"]'))
    result = load_rules([path])
    assert result.rules == [] and len(result.problems) == 1
    assert "\x1b" not in result.problems[0]
    assert "escape\\x1b.toml" in result.problems[0] and "'--host\\x1b[2J' is not a tuning flag" in result.problems[0]


def test_launch_settings_for_an_engine_spark_tui_does_not_launch(tmp_path):
    path = tmp_path / "other.toml"
    path.write_text(rule('launch_flags = ["--enforce-eager"]', when='engine = "sglang"'))
    result = load_rules([path])
    assert result.rules == []
    assert result.problems[0].endswith("when.engine: 'sglang' is not a known engine (known: vllm, trtllm, llamacpp)")


@pytest.mark.parametrize("engine", ["{ a = 1 }", "[[1]]", "5"])
def test_a_malformed_engine_condition_is_a_problem_not_a_crash(tmp_path, engine):
    path = tmp_path / "odd.toml"
    path.write_text(rule('launch_flags = ["--enforce-eager"]', when=f"engine = {engine}"))
    result = load_rules([path])
    assert result.rules == [] and any("when.engine" in p for p in result.problems), result.problems
