"""Load and validate rules files. Every problem is reported as file:line: key: message,
and a broken rule (or file) never stops the others from loading.

tomllib gives no line numbers for keys, so `_KeyLines` finds them by scanning the text for
`[[rule]]` headers and `key =` lines inside each rule's span.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from spark_tui.rules.facts import FACT_KINDS
from spark_tui.rules.model import SEVERITIES, STATUSES, CatalogEntry, LoadResult, Reference, Rule

_RULE_KEYS = {
    "id": str, "title": str, "severity": str, "detail": str, "fix": str, "when": dict, "unless": dict,
    "status": str, "fixed_in": str, "references": list, "log_patterns": list, "launch_env": dict,
    "launch_flags": list,
}
_REQUIRED = ("id", "title", "severity", "detail", "fix", "when", "references")
_REF_KEYS = {"url": str, "label": str, "number": int, "state": str}
_ID = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_NUMBER_TEST = re.compile(r"^\s*(<=|>=|==|!=|<|>)\s*(-?\d+(\.\d+)?([eE]\d+)?)\s*$")


class _KeyLines:
    """Line numbers of `[[rule]]` headers and of `key =` lines within each rule."""

    def __init__(self, text: str, header: str = "rule") -> None:
        self.lines = text.splitlines()
        pattern = re.compile(rf"^\s*\[\[\s*{header}\s*\]\]")
        self.starts = [i + 1 for i, line in enumerate(self.lines) if pattern.match(line)]

    def rule_line(self, index: int) -> int:
        return self.starts[index] if index < len(self.starts) else 1

    def key_line(self, index: int, key: str) -> int:
        start = self.rule_line(index)
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.lines) + 1
        leaf = key.split(".")[-1]
        pattern = re.compile(rf"^\s*(\"?){re.escape(leaf)}\1\s*=|^\s*\[\[?\s*rule\.{re.escape(leaf)}\s*\]?\]")
        for number in range(start, end):
            if pattern.search(self.lines[number - 1]):
                return number
        return start


def _syntax_problem(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
    line = match.group(1) if match else getattr(exc, "lineno", "?")
    message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
    return f"{path}:{line}: TOML syntax error: {message}"


def _check_condition(key: str, value: Any) -> str | None:
    kind = FACT_KINDS.get(key)
    if kind is None:
        return f"unknown fact '{key}' (known: {', '.join(sorted(FACT_KINDS))})"
    values = value if isinstance(value, list) else [value]
    if kind == "bool":
        return None if isinstance(value, bool) else "expects true or false"
    if kind == "version":
        if not isinstance(value, str):
            return "expects a version specifier string such as \">=0.10,<0.12\""
        try:
            SpecifierSet(value)
        except InvalidSpecifier:
            return f"'{value}' is not a PEP 440 version specifier"
        return None
    if kind == "number":
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                return "expects a number or a comparison such as \">0.85\""
            if isinstance(v, str) and not all(_NUMBER_TEST.match(p) for p in v.split(",")):
                return f"'{v}' is not a comparison such as \">0.85\" or \">=2,<8\""
        return None
    if kind == "regex":
        for v in values:
            if not isinstance(v, str):
                return "expects a regular expression string"
            try:
                re.compile(v)
            except re.error as exc:
                return f"bad regular expression: {exc}"
        return None
    if not all(isinstance(v, str) for v in values):
        return "expects a string or a list of strings"
    return None


def _build_rule(data: Any, where: str, lines: _KeyLines, index: int, path: Path) -> tuple[Rule | None, list[str]]:
    problems: list[str] = []

    def problem(key: str, message: str) -> None:
        problems.append(f"{path}:{lines.key_line(index, key)}: {key}: {message}")

    if not isinstance(data, dict):
        return None, [f"{where}: a rule must be a table"]
    for key, value in data.items():
        expected = _RULE_KEYS.get(key)
        if expected is None:
            problem(key, f"unknown key (allowed: {', '.join(sorted(_RULE_KEYS))})")
        elif not isinstance(value, expected):
            problem(key, f"must be a {expected.__name__}")
    for key in _REQUIRED:
        if key not in data:
            problems.append(f"{where}: {key}: missing")
    if problems:
        return None, problems
    if not _ID.match(data["id"]):
        problem("id", "use lower-case letters, digits, '.' and '-'")
    if data["severity"] not in SEVERITIES:
        problem("severity", f"must be one of {', '.join(SEVERITIES)}")
    if data.get("status", "open") not in STATUSES:
        problem("status", f"must be one of {', '.join(STATUSES)}")
    for table in ("when", "unless"):
        for key, value in (data.get(table) or {}).items():
            error = _check_condition(key, value)
            if error:
                problem(f"{table}.{key}", error)
    if not data["when"] and not data.get("log_patterns"):
        problem("when", "needs at least one condition (or log_patterns, for a rule that only explains logs)")
    refs: list[Reference] = []
    for ref in data["references"]:
        if not isinstance(ref, dict) or "url" not in ref or "label" not in ref:
            problem("references", "each reference needs url and label")
            continue
        bad = [k for k in ref if k not in _REF_KEYS]
        if bad:
            problem("references", f"unknown reference keys {bad}")
            continue
        if not str(ref["url"]).startswith("https://"):
            problem("url", "must be an https:// URL")
            continue
        refs.append(Reference(ref["url"], ref["label"], ref.get("number"), ref.get("state")))
    for pattern in data.get("log_patterns", []):
        try:
            re.compile(pattern)
        except (re.error, TypeError) as exc:
            problem("log_patterns", f"bad regular expression {pattern!r}: {exc}")
    if problems:
        return None, problems
    return (
        Rule(
            id=data["id"],
            title=data["title"],
            severity=data["severity"],
            detail=data["detail"].strip(),
            fix=data["fix"].strip(),
            when=data["when"],
            unless=data.get("unless", {}),
            status=data.get("status", "open"),
            fixed_in=data.get("fixed_in"),
            references=tuple(refs),
            log_patterns=tuple(data.get("log_patterns", [])),
            launch_env={str(k): str(v) for k, v in data.get("launch_env", {}).items()},
            launch_flags=tuple(str(f) for f in data.get("launch_flags", [])),
            source=f"{path}:{lines.rule_line(index)}",
        ),
        [],
    )


def load_rules_file(path: Path, result: LoadResult | None = None) -> LoadResult:
    result = result or LoadResult()
    result.files.append(path)
    try:
        text = path.read_text()
    except OSError as exc:
        result.problems.append(f"{path}: cannot read: {exc.strerror or exc}")
        return result
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        result.problems.append(_syntax_problem(path, exc))
        return result
    lines = _KeyLines(text)
    extra = [k for k in data if k != "rule"]
    for key in extra:
        result.problems.append(f"{path}:1: {key}: unknown top-level key (rules go in [[rule]] tables)")
    entries = data.get("rule", [])
    if not isinstance(entries, list):
        result.problems.append(f"{path}:1: rule: use [[rule]] (an array of tables)")
        return result
    seen = {r.id for r in result.rules}
    for index, entry in enumerate(entries):
        where = f"{path}:{lines.rule_line(index)}"
        rule, problems = _build_rule(entry, where, lines, index, path)
        result.problems.extend(problems)
        if rule is None:
            continue
        if rule.id in seen:
            result.problems.append(f"{where}: id: duplicate rule id '{rule.id}' (the later one is ignored)")
            continue
        seen.add(rule.id)
        result.rules.append(rule)
    return result


def load_rules(paths: list[Path]) -> LoadResult:
    """Load every *.toml under the given files/folders, in order; later files cannot override ids."""
    result = LoadResult()
    for path in paths:
        if path.is_dir():
            for file in sorted(path.rglob("*.toml")):
                load_rules_file(file, result)
        elif path.exists():
            load_rules_file(path, result)
        else:
            result.problems.append(f"{path}: no such rules file or folder")
    return result


def load_catalog(path: Path) -> tuple[list[CatalogEntry], list[str]]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return [], [f"{path}: {exc}"]
    entries, problems = [], []
    lines = _KeyLines(path.read_text(), header="model")
    for index, item in enumerate(data.get("model", [])):
        try:
            entries.append(CatalogEntry(**item))
        except TypeError as exc:
            problems.append(f"{path}:{lines.rule_line(index)}: {exc}")
    return entries, problems
