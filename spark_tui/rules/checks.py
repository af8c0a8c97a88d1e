"""Checks on the values inside a rule that TOML types alone do not catch: a value no fact can take, a regex that
can backtrack for ever, a {placeholder} nothing fills, a terminal escape in a text, a case fact of the wrong kind.
Each returns a message (or None); the loader attaches file:line and refuses the rule."""

from __future__ import annotations

import difflib
import re
import string
from functools import cache
from typing import Any

from packaging.version import InvalidVersion, Version

from spark_tui.rules.facts import CLOSED_VALUES, CONTEXT_KEYS, FACT_KINDS, KNOWN_VALUES

# Tab and newline are layout; every other C0/C1 control (ESC above all) could drive the user's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def did_you_mean(value: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(choices)})"


@cache
def hardware_names() -> tuple[str, ...]:
    """The hardware profiles a `hardware` condition can name (rules/hardware/profiles.toml)."""
    import tomllib

    from spark_tui.paths import data_dir

    try:
        return tuple(tomllib.loads((data_dir() / "hardware" / "profiles.toml").read_text("utf-8")))
    except (OSError, ValueError):
        return ()


def value_problem(fact: str, value: Any) -> str | None:
    """A value this fact never takes (a typo, as a rule that can never match is one)."""
    closed = hardware_names() if fact == "hardware" else CLOSED_VALUES.get(fact)
    known = KNOWN_VALUES.get(fact)
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, str):
            continue
        text = item.lower()  # conditions compare case-insensitively
        if closed and text not in closed:
            return f"{item!r} is not a known {fact}{did_you_mean(text, closed)}"
        if known and text not in known:
            close = difflib.get_close_matches(text, known, n=1, cutoff=0.8)
            if close:  # an open set: only a near miss of a known name is taken for a typo
                return f"{item!r} is not a known {fact}; did you mean {close[0]!r}?"
    return None


def control_problem(text: Any) -> str | None:
    if isinstance(text, str) and (match := _CONTROL.search(text)):
        return f"contains the control character \\x{ord(match.group()):02x} (a rules file must not drive the terminal)"
    return None


def placeholder_problem(text: str) -> str | None:
    """{names} the advisor cannot fill (it fills every fact and the values in facts.CONTEXT_KEYS)."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        return f"bad {{placeholder}} syntax ({exc}); write {{{{ and }}}} for literal braces"
    known = set(FACT_KINDS) | set(CONTEXT_KEYS)
    unknown = [f for f in fields if re.split(r"[.\[]", f, maxsplit=1)[0] not in known]
    if unknown:
        name = unknown[0] or "{}"
        return f"placeholder {{{unknown[0]}}} names no fact or value the advisor fills" + (
            did_you_mean(name, sorted(known)) if name != "{}" and difflib.get_close_matches(name, known, n=1) else "")
    return None


_QUANTIFIER = re.compile(r"[*+?]|\{(\d*)(,?)(\d*)\}")


def backtracking_problem(pattern: str) -> str | None:
    """A structural check for catastrophic backtracking: a group that can match the same text in many ways (its only
    required parts are unbounded repeats, e.g. `a+`, `.*`, `\\w+\\s*`) repeated without bound: `(a+)+`, `(.*)*`,
    `(\\w+\\s?)*`, `((ab)+)+`. It does not catch overlapping alternatives such as `(a|a)+` or `(a|ab)*`."""
    # Per open group: its branches, each a list of items (unbounded, nullable).
    stack: list[list[list[tuple[bool, bool]]]] = [[[]]]
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        atom: tuple[bool, bool] | None = None  # the item just read: (loose, nullable)
        if char == "\\":
            i += 2
            atom = (False, False)
        elif char == "[":
            end = i + 1 + (pattern[i + 1:i + 2] == "^")
            end += pattern[end:end + 1] == "]"
            while end < n and pattern[end] != "]":
                end += 2 if pattern[end] == "\\" else 1
            i = end + 1
            atom = (False, False)
        elif char == "(":
            stack.append([[]])
            i += 1
            if pattern.startswith("?", i):  # (?:…), (?P<name>…), lookarounds: skip the group's prefix
                match = re.match(r"\?(?:P<\w+>|<[=!]|[:=!>]|[a-zA-Z]+[:)]|P=\w+\))", pattern[i:])
                i += match.end() if match else 1
            continue
        elif char == ")" and len(stack) > 1:
            branches = stack.pop()
            loose = any(any(u for u, _ in b) and all(u or z for u, z in b) for b in branches)
            atom = (loose, any(all(z for _, z in b) for b in branches))
            i += 1
        elif char == "|":
            stack[-1].append([])
            i += 1
            continue
        else:
            i += 1
            atom = (False, False)
        quantifier = _QUANTIFIER.match(pattern, i)
        unbounded = nullable = False
        if quantifier:
            text = quantifier.group()
            unbounded = text in "*+" or (bool(quantifier.group(2)) and not quantifier.group(3))
            nullable = text in "*?" or (text.startswith("{") and quantifier.group(1) in ("", "0"))
            i = quantifier.end()
            i += i < n and pattern[i] in "?+"  # lazy or possessive
        if atom[0] and unbounded:
            return "can backtrack catastrophically (a repeated group that itself repeats, such as (a+)+ or (.*)*)"
        stack[-1][-1].append((unbounded or atom[0], nullable or atom[1]))
    return None


def regex_problem(pattern: Any) -> str | None:
    if not isinstance(pattern, str):
        return "expects a regular expression string"
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"bad regular expression {pattern!r}: {exc}"
    danger = backtracking_problem(pattern)
    return f"regular expression {pattern!r} {danger}" if danger else None


def case_fact_problem(name: str, value: Any) -> str | None:
    """A case fact must look like what the advisor passes for it, or the case proves nothing."""
    kind = FACT_KINDS[name]
    if kind == "bool" and not isinstance(value, bool):
        return f"{name} must be true or false"
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return f"{name} must be a number"
    if kind == "list" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return f"{name} must be a list of strings, e.g. [\"nvfp4\"]"
    if kind in ("str", "regex", "version") and not isinstance(value, str):
        return f"{name} must be a string"
    if kind == "version":
        try:
            Version(value)
        except InvalidVersion:
            return f"{name} {value!r} is not a version such as \"0.14.0\" or \"12.1\""
    return value_problem(name, value)
