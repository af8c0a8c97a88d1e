"""`spark-tui rules` (issue 13, bug 9): piped, it cut severities (`erro`) and titles mid-word and ignored COLUMNS.
Now nothing is cut: piped without COLUMNS each rule is one whole line; with COLUMNS the titles wrap at word
boundaries within it; `--json` gives scripts every rule as `rules show ID --json` does."""

from __future__ import annotations

import json

import pytest

from spark_tui.rules.model import SEVERITIES, generic


def _rules(cli) -> list[dict]:
    r = cli("rules", "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


def _blocks(out: str) -> dict[str, str]:
    """Rule id → its whole entry (wrapped lines joined), from the listing's text."""
    blocks: dict[str, str] = {}
    current = None
    for line in out.split("\n\n")[0].splitlines():
        words = line.split()
        if line[:1] != " " and words and words[0] in SEVERITIES:
            current = words[1]
            blocks[current] = " ".join(words)
        elif current is not None:
            blocks[current] += " " + " ".join(words)
    return blocks


def test_piped_without_columns_nothing_is_cut(cli):
    rules = _rules(cli)
    r = cli("rules", env={"COLUMNS": ""})
    assert r.code == 0, r.err
    lines = r.out.split("\n\n")[0].splitlines()
    assert len(lines) == len(rules)  # one line per rule: grep and cut work
    for rule, line in zip(rules, lines, strict=True):
        severity, rule_id = line.split()[:2]
        assert severity == rule["severity"] and rule_id == rule["id"]  # "error", never "erro"
        assert " ".join(generic(rule["title"]).split()) in " ".join(line.split())  # the whole title


@pytest.mark.parametrize("columns", [100, 80, 60, 40])
def test_columns_is_honoured_and_titles_wrap_whole(cli, columns):
    rules = _rules(cli)
    r = cli("rules", env={"COLUMNS": str(columns)})
    assert r.code == 0, r.err
    names = {f"{rule['severity']} {rule['id']}" for rule in rules}
    too_long = [line for line in r.out.splitlines() if len(line) > columns and line not in names]
    assert too_long == []  # only an id wider than the terminal itself is longer: ids are never cut either
    blocks = _blocks(r.out)
    assert list(blocks) == [rule["id"] for rule in rules]
    for rule in rules:
        entry = blocks[rule["id"]]
        assert entry.startswith(f"{rule['severity']} {rule['id']} ")
        assert " ".join(generic(rule["title"]).split()) in entry, entry  # every word, in order, none cut
        for ref in rule["references"]:
            if ref["number"]:
                assert f"#{ref['number']}" in entry.split()


def test_json_lists_every_rule_as_rules_show_does(cli):
    rules = _rules(cli)
    assert len(rules) > 10
    for rule in rules:
        assert {"id", "severity", "engines", "title", "status", "fixed_in", "references"} <= set(rule)
        assert rule["severity"] in SEVERITIES and isinstance(rule["engines"], list)
    trt = next(rule for rule in rules if rule["id"] == "trtllm-sm12x-attention-sinks")
    assert trt["engines"] == ["trtllm"]
    shown = json.loads(cli("rules", "show", "trtllm-sm12x-attention-sinks", "--json").out)
    assert shown == trt  # the same object per rule
