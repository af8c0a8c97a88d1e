"""Load and validate rules files. Every problem is reported as file:line: key: message,
and a broken rule (or file) never stops the others from loading.

tomllib gives no line numbers for keys, so `KeyLines` finds them by scanning the text for
`[[rule]]` headers and `key =` lines inside each rule's span.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from spark_tui.rules import checks, knobs
from spark_tui.rules.cases import case_failures
from spark_tui.rules.facts import FACT_KINDS, REFERENCE_STATES
from spark_tui.rules.lines import KeyLines
from spark_tui.rules.model import (
    SEVERITIES,
    STATUSES,
    Case,
    CatalogEntry,
    LaunchSuggestion,
    LoadResult,
    Reference,
    Rule,
)

_RULE_KEYS = {
    "id": str, "title": str, "severity": str, "detail": str, "fix": str, "when": dict, "unless": dict,
    "status": str, "fixed_in": str, "references": list, "log_patterns": list, "launch_env": dict,
    "launch_flags": list, "launch": list, "cases": list,
}
_CASE_KEYS = {"fires": bool, "name": str, "facts": dict}
_LAUNCH_KEYS = {"engine_version": str, "env": dict, "flags": list}
_REQUIRED = ("id", "title", "severity", "detail", "fix", "when", "references")
_REF_KEYS = {"url": str, "label": str, "number": int, "state": str}
_TYPE_NAMES = {str: "string", dict: "table", list: "list", bool: "true or false", int: "integer"}
_ID = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_NUMBER_TEST = re.compile(r"^\s*(<=|>=|==|!=|<|>)\s*(-?\d+(\.\d+)?([eE]\d+)?)\s*$")
MAX_FILE_BYTES = 1024 * 1024  # far above any real rules file; stops /dev/zero and friends


def printable(text: str) -> str:
    """Control characters from a file (or its name) shown as \\xNN, never sent raw to a terminal."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: f"\\x{ord(m.group()):02x}", text)


def shown(path: Path) -> str:
    """A path as text that can always be printed: undecodable bytes in a file name become \\xNN too."""
    return printable(os.fsencode(path).decode("utf-8", "backslashreplace"))


def read_text(path: Path) -> tuple[str | None, str | None]:
    """(text, None) or (None, problem): only a regular file under MAX_FILE_BYTES of UTF-8 is read.
    O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        return None, f"{shown(path)}: cannot read: {exc.strerror or exc}"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None, f"{shown(path)}: not a regular file; not read."
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return None, f"{shown(path)}: cannot read: {exc.strerror or exc}"
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        return None, f"{shown(path)}: larger than 1 MiB; rules files must be smaller."
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, f"{shown(path)}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8."


def _syntax_problem(name: str, exc: tomllib.TOMLDecodeError) -> str:
    match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
    line = match.group(1) if match else getattr(exc, "lineno", "?")
    message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
    return f"{name}:{line}: TOML syntax error: {message}"


def _check_condition(key: str, value: Any) -> str | None:
    kind = FACT_KINDS.get(key)
    if kind is None:
        return f"unknown fact '{key}'{checks.did_you_mean(key, sorted(FACT_KINDS))}"
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
        return next((error for v in values if (error := checks.regex_problem(v))), None)
    if not all(isinstance(v, str) for v in values):
        return "expects a string or a list of strings"
    return checks.value_problem(key, value)


def _launch_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, message) for launch settings a rule may not suggest: see spark_tui.rules.knobs."""
    flags, env = data.get("launch_flags", []), data.get("launch_env", {})
    if not flags and not env:
        return []
    key = "launch_flags" if flags else "launch_env"
    problems: list[tuple[str, str]] = []
    if not all(isinstance(f, str) for f in flags):
        problems.append(("launch_flags", "must be a list of strings (write numbers in quotes: \"8\")"))
        flags = []
    for var, value in env.items():
        if not isinstance(value, str):
            problems.append((f"launch_env.{var}" if re.fullmatch(r"[A-Za-z_]\w*", var) else "launch_env",
                             f"{var!r} must be a string (write numbers in quotes: \"1\")"))
    env = {k: v for k, v in env.items() if isinstance(v, str)}
    engine = data["when"].get("engine")
    engines = engine if isinstance(engine, list) else [engine] if engine else []
    if not all(isinstance(e, str) for e in engines):
        return problems  # when.engine itself is reported as a problem
    engines = [e.lower() for e in engines]  # as the condition matches it
    if not engines:
        return [*problems, (key, "a rule that adds launch settings must name its engine in when.engine "
                                 "(each engine has its own tuning knobs)")]
    if any(e not in knobs.FLAGS for e in engines):
        return problems  # when.engine names no engine: reported with a "did you mean"
    for name in engines:
        error = knobs.flag_groups(name, flags)[1]
        if error:
            problems.append(("launch_flags", error + "."))
        for var, value in env.items():
            where = f"launch_env.{var}" if re.fullmatch(r"[A-Za-z_]\w*", var) else "launch_env"
            if error := knobs.env_problem(name, var, value):
                problems.append((where, error + "."))
    return problems


def _launch_suggestions(data: dict[str, Any], lines: KeyLines, index: int,
                        problem: Any) -> tuple[LaunchSuggestion, ...]:
    """[[rule.launch]]: settings per engine version, each checked like launch_env/launch_flags."""
    found: list[LaunchSuggestion] = []
    for number, entry in enumerate(data.get("launch", [])):
        def at(key: str | None = None, number: int = number) -> int | None:
            return lines.entry_line(index, "launch", number, key)

        if not isinstance(entry, dict):
            problem("launch", "each [[rule.launch]] must be a table", at())
            continue
        bad = [k for k, v in entry.items() if k not in _LAUNCH_KEYS or not isinstance(v, _LAUNCH_KEYS[k])]
        for key in bad:
            problem("launch", f"{key}: " + (f"must be a {_TYPE_NAMES[_LAUNCH_KEYS[key]]}" if key in _LAUNCH_KEYS else
                                            f"unknown key{checks.did_you_mean(key, sorted(_LAUNCH_KEYS))}"), at(key))
        spec = entry.get("engine_version")
        if isinstance(spec, str) and _check_condition("engine_version", spec):
            problem("launch", f"engine_version {spec!r} is not a version specifier (e.g. \"<0.24\")",
                    at("engine_version"))
            continue
        if bad:
            continue
        as_plain = {"when": data["when"], "launch_env": entry.get("env", {}), "launch_flags": entry.get("flags", [])}
        errors = _launch_problems(as_plain)
        for key, message in errors:
            problem("launch", f"{key.replace('launch_', '')}: {message}", at("env" if "env" in key else "flags"))
        if not errors:
            found.append(LaunchSuggestion(spec, dict(entry.get("env", {})), tuple(entry.get("flags", [])), at() or 0))
    return tuple(found)


def _cases(data: dict[str, Any], lines: KeyLines, index: int, problem: Any) -> tuple[Case, ...]:
    """[[rule.cases]]: the rule's own examples (facts, and whether it must fire), run by lint and the tests."""
    found: list[Case] = []
    for number, entry in enumerate(data.get("cases", [])):
        line = lines.entry_line(index, "cases", number) or 0
        if not isinstance(entry, dict) or not isinstance(entry.get("fires"), bool) or \
                not isinstance(entry.get("facts"), dict) or any(k not in _CASE_KEYS for k in entry):
            problem("cases", "each [[rule.cases]] needs fires (true/false) and a facts table (and may have a name)",
                    line or None)
            continue
        errors = []
        for fact, value in entry["facts"].items():
            if fact not in FACT_KINDS:
                errors.append(f"case facts name no fact: {fact!r}{checks.did_you_mean(fact, sorted(FACT_KINDS))}")
            elif error := checks.case_fact_problem(fact, value):
                errors.append(f"case facts: {error}")
            else:
                continue
            problem("cases", errors[-1], lines.entry_line(index, "cases", number, fact))
        if not errors:
            found.append(Case(entry["fires"], dict(entry["facts"]), str(entry.get("name", "")), line))
    return tuple(found)


def _references(refs: list[Any], lines: KeyLines, index: int, problem: Any) -> list[Reference]:
    found: list[Reference] = []
    for number, ref in enumerate(refs):
        def at(key: str | None = None, number: int = number) -> int | None:
            return lines.entry_line(index, "references", number, key)

        if not isinstance(ref, dict) or "url" not in ref or "label" not in ref:
            problem("references", "each reference needs url and label", at())
            continue
        errors = [(k, f"unknown reference key{checks.did_you_mean(k, sorted(_REF_KEYS))}") for k in ref
                  if k not in _REF_KEYS]
        errors += [(k, f"must be {'an integer (the issue or PR number)' if t is int else 'a string'}")
                   for k, t in _REF_KEYS.items()
                   if k in ref and (not isinstance(ref[k], t) or isinstance(ref[k], bool))]
        if isinstance(ref["url"], str) and not ref["url"].startswith("https://"):
            errors.append(("url", "must be an https:// URL"))
        if isinstance(ref.get("state"), str) and ref["state"] not in REFERENCE_STATES:
            errors.append(("state", f"{ref['state']!r} is not a reference state"
                                    f"{checks.did_you_mean(ref['state'], REFERENCE_STATES)}"))
        if isinstance(ref.get("number"), int) and ref["number"] < 1:
            errors.append(("number", "must be the issue or PR number (1 or more)"))
        if isinstance(ref["label"], str) and (error := checks.control_problem(ref["label"])):
            errors.append(("label", error))
        for key, message in errors:
            problem(f"references.{key}", message, at(key))
        if not errors:
            found.append(Reference(ref["url"], ref["label"], ref.get("number"), ref.get("state")))
    return found


def _build_rule(data: Any, where: str, lines: KeyLines, index: int, name: str) -> tuple[Rule | None, list[str]]:
    """The rule, or every problem with it (each key is checked on its own, so one run lists them all)."""
    problems: list[str] = []

    def problem(key: str, message: str, line: int | None = None) -> None:
        problems.append(f"{name}:{line or lines.key_line(index, key)}: {key}: {message}")

    if not isinstance(data, dict):
        return None, [f"{where}: a rule must be a table"]
    ok: dict[str, Any] = {}  # the keys whose values have the right type
    for key, value in data.items():
        expected = _RULE_KEYS.get(key)
        if expected is None:
            problem(key, f"unknown key{checks.did_you_mean(key, sorted(_RULE_KEYS))}")
        elif not isinstance(value, expected):
            problem(key, f"must be a {_TYPE_NAMES[expected]}")
        else:
            ok[key] = value
    for key in _REQUIRED:
        if key not in data:
            problems.append(f"{where}: {key}: missing")
    if "id" in ok and not _ID.match(ok["id"]):
        problem("id", "use lower-case letters, digits, '.' and '-'")
    for key, allowed in (("severity", SEVERITIES), ("status", STATUSES)):
        if key in ok and ok[key] not in allowed:
            problem(key, f"must be one of {', '.join(allowed)}"
                         + (checks.did_you_mean(ok[key], allowed) if checks.did_you_mean(ok[key], allowed)[0] == ";"
                            else ""))
    for key in ("title", "detail", "fix"):
        if key in ok and (error := checks.control_problem(ok[key]) or checks.placeholder_problem(ok[key])):
            problem(key, error)
    for table in ("when", "unless"):
        for key, value in ok.get(table, {}).items():
            if error := _check_condition(key, value):
                problem(f"{table}.{key}", error)
    if "when" in ok and not ok["when"] and not data.get("log_patterns"):
        problem("when", "needs at least one condition (or log_patterns, for a rule that only explains logs)")
    refs = _references(ok.get("references", []), lines, index, problem)
    for pattern in ok.get("log_patterns", []):
        if error := checks.regex_problem(pattern):
            problem("log_patterns", error)
    launch: tuple[LaunchSuggestion, ...] = ()
    if "when" in ok:  # the settings are checked against the rule's engine
        plain = {"when": ok["when"], "launch_env": ok.get("launch_env", {}), "launch_flags": ok.get("launch_flags", [])}
        for key, message in _launch_problems(plain):  # refused whole: its fix may rely on the settings it lost
            problem(key, message)
        launch = _launch_suggestions(ok, lines, index, problem)
    cases = _cases(ok, lines, index, problem)
    if problems:
        return None, problems
    rule = Rule(
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
        launch_env=dict(data.get("launch_env", {})),
        launch_flags=tuple(data.get("launch_flags", [])),
        launch=launch,
        cases=cases,
        source=f"{name}:{lines.rule_line(index)}",
    )
    failures = case_failures(rule)  # a rule that contradicts its own examples would give wrong advice
    return (None, failures) if failures else (rule, [])


def load_rules_file(path: Path, result: LoadResult | None = None) -> LoadResult:
    result = result or LoadResult()
    start = len(result.problems)
    _load_file(path, result)
    result.problems[start:] = [printable(p) for p in result.problems[start:]]  # values quoted from the file
    return result


def _load_file(path: Path, result: LoadResult) -> None:
    result.files.append(path)
    name = shown(path)
    text, problem = read_text(path)
    if text is None:
        result.problems.append(problem or f"{name}: cannot read")
        return
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        result.problems.append(_syntax_problem(name, exc))
        return
    lines = KeyLines(text)
    extra = [k for k in data if k != "rule"]
    for key in extra:
        result.problems.append(f"{name}:1: {key}: unknown top-level key (rules go in [[rule]] tables)")
    entries = data.get("rule", [])
    if not isinstance(entries, list):
        result.problems.append(f"{name}:1: rule: use [[rule]] (an array of tables)")
        return
    seen = {r.id for r in result.rules}
    for index, entry in enumerate(entries):
        where = f"{name}:{lines.rule_line(index)}"
        rule, problems = _build_rule(entry, where, lines, index, name)
        result.problems.extend(problems)
        if rule is None:
            continue
        if rule.id in seen:
            result.problems.append(f"{where}: id: duplicate rule id '{rule.id}' (the later one is ignored)")
            continue
        seen.add(rule.id)
        result.rules.append(rule)


def load_rules(paths: list[Path]) -> LoadResult:
    """Load every *.toml under the given files/folders, in order; later files cannot override ids."""
    result = LoadResult()
    for path in paths:
        if path.is_dir():
            for file in sorted(path.rglob("*.toml")):
                if not file.is_dir():  # a folder named x.toml is walked, not read
                    load_rules_file(file, result)
        elif os.path.lexists(path):  # a dangling or looping link is a problem for load_rules_file to name
            load_rules_file(path, result)
        else:
            result.problems.append(f"{shown(path)}: no such rules file or folder")
    return result


def load_catalog(path: Path) -> tuple[list[CatalogEntry], list[str]]:
    text, problem = read_text(path)
    if text is None:
        return [], [problem or f"{shown(path)}: cannot read"]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [], [_syntax_problem(shown(path), exc)]
    entries, problems = [], []
    lines = KeyLines(text, header="model")
    for index, item in enumerate(data.get("model", [])):
        try:
            entries.append(CatalogEntry(**item))
        except TypeError as exc:
            problems.append(f"{path}:{lines.rule_line(index)}: {exc}")
    return entries, problems
