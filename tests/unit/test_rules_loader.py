"""Rules files: every problem reported with file, line and key; good rules still load."""

from __future__ import annotations

from pathlib import Path

from spark_tui.rules import load_rules

GOOD = '''
[[rule]]
id = "local-good"
title = "A good rule"
severity = "warning"
detail = "Why."
fix = "How."
references = []
[rule.when]
engine = "vllm"
'''


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_syntax_error_gives_file_and_line_and_other_files_still_load(tmp_path):
    bad = write(tmp_path, "bad.toml", 'x = 1\n[[rule]]\nid = "oops\n')
    good = write(tmp_path, "good.toml", GOOD)
    result = load_rules([bad, good])
    assert [r.id for r in result.rules] == ["local-good"]
    assert len(result.problems) == 1
    assert result.problems[0].startswith(f"{bad}:3: TOML syntax error")


def test_every_schema_problem_is_listed_with_line_and_key(tmp_path):
    text = GOOD + '''
[[rule]]
id = "Bad Id"
title = "t"
severity = "fatal"
detail = "d"
fix = "f"
colour = "red"
references = []
[rule.when]
engine_version = "not a spec"
flavour = "x"
'''
    path = write(tmp_path, "mixed.toml", text)
    result = load_rules([path])
    assert [r.id for r in result.rules] == ["local-good"]  # the good rule in the same file survives
    problems = "\n".join(result.problems)
    lines = text.splitlines()
    colour_line = next(i for i, line in enumerate(lines, 1) if line.startswith("colour"))
    assert f"{path}:{colour_line}: colour: unknown key" in problems
    # The unknown key stops that rule; fix it and the next layer of problems shows, each with its line.
    fixed = path.read_text().replace('colour = "red"\n', "")
    path.write_text(fixed)
    problems = "\n".join(load_rules([path]).problems)
    lines = fixed.splitlines()
    for key, fragment in (("id", "lower-case"), ("severity", "must be one of"),
                          ("when.engine_version", "not a PEP 440"), ("when.flavour", "unknown fact")):
        leaf = key.split(".")[-1]
        number = next(i for i, line in enumerate(lines, 1) if line.startswith(f"{leaf} ") and i > 12)
        assert f"{path}:{number}: {key}: " in problems and fragment in problems, key


def test_missing_required_keys_and_duplicates(tmp_path):
    path = write(tmp_path, "dup.toml", GOOD + GOOD + '\n[[rule]]\nid = "no-title"\n')
    result = load_rules([path])
    assert [r.id for r in result.rules] == ["local-good"]
    text = "\n".join(result.problems)
    assert "duplicate rule id 'local-good'" in text
    assert "title: missing" in text and "references: missing" in text


def test_bad_regex_and_comparison(tmp_path):
    path = write(tmp_path, "re.toml", GOOD.replace('engine = "vllm"', 'repo = "([unclosed"\ngpus = "about two"'))
    text = "\n".join(load_rules([path]).problems)
    assert "when.repo: bad regular expression" in text
    assert "when.gpus: 'about two' is not a comparison" in text


def test_missing_path_is_a_problem_not_a_crash(tmp_path):
    result = load_rules([tmp_path / "nope.toml"])
    assert result.rules == [] and "no such rules file" in result.problems[0]


def test_shipped_rules_are_clean():
    from spark_tui.rules import builtin_rule_paths

    result = load_rules(builtin_rule_paths())
    assert result.problems == []
    assert all(r.references or r.id.startswith(("memory-", "vllm-gguf", "trtllm-gguf")) for r in result.rules)
