"""Match rules against facts. No I/O: facts in, findings out.

A condition whose fact is unknown (None) does not match, so a rule fires only when every
condition in `when` is known to hold and nothing in `unless` is.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from spark_tui.rules.facts import FACT_KINDS
from spark_tui.rules.model import Reference, Rule

_COMPARE = r"^\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?(?:[eE]\d+)?)\s*$"  # compiled on first use (re caches it)
_OPS = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


@dataclass(frozen=True)
class Finding:
    """A rule that fired, with its text filled in from the facts."""

    rule: str
    severity: str
    title: str
    detail: str
    fix: str
    references: tuple[Reference, ...]
    status: str
    fixed_in: str | None
    launch_env: dict[str, str]
    launch_flags: tuple[str, ...]


def _matches(kind: str, expected: Any, actual: Any) -> bool | None:
    """True/False, or None when the fact is unknown."""
    if actual is None:
        return None
    options = expected if isinstance(expected, list) else [expected]
    if kind == "bool":
        return bool(actual) is expected
    if kind == "str":
        return str(actual).lower() in {str(o).lower() for o in options}
    if kind == "list":
        have = {str(a).lower() for a in actual}
        return any(str(o).lower() in have for o in options)
    if kind == "regex":
        return any(re.search(o, str(actual), re.IGNORECASE) for o in options)
    if kind == "version":
        try:
            return _version_matches(expected, Version(str(actual)))
        except InvalidVersion:
            return None
    if kind == "number":
        for option in options:
            if isinstance(option, (int, float)):
                if actual == option:
                    return True
                continue
            if all(
                (m := re.match(_COMPARE, part)) and _OPS[m.group(1)](float(actual), float(m.group(2)))
                for part in str(option).split(",")
            ):
                return True
        return False
    raise ValueError(f"unknown fact kind {kind}")


def _version_matches(spec_text: str, version: Version) -> bool:
    """PEP 440 specifiers, except that `<` and `>` are plain version order: a 1.2.0rc0 engine is "<1.2.0",
    as a user reading a rule expects (PEP 440 would exclude pre-releases of the bound itself)."""
    for spec in SpecifierSet(spec_text):
        bound = Version(spec.version) if spec.operator in ("<", ">") else None
        if spec.operator == "<" and bound is not None:
            ok = version < bound
        elif spec.operator == ">" and bound is not None:
            ok = version > bound
        else:
            ok = spec.contains(version, prereleases=True)
        if not ok:
            return False
    return True


def version_holds(spec_text: str, version: Any) -> bool | None:
    """Whether an engine version lies in a specifier's range, as rule conditions read it (None: not a version)."""
    return _matches("version", spec_text, version)


def launch_suggestion(rule: Rule, engine_version: Any) -> tuple[dict[str, str], tuple[str, ...]]:
    """(env, flags) the rule adds for this engine version: its first [[rule.launch]] entry that holds, else the
    plain launch_env/launch_flags. An unknown version takes no versioned entry (nothing a release may ignore)."""
    for suggestion in rule.launch:
        if suggestion.engine_version is None or (
                engine_version is not None and _matches("version", suggestion.engine_version, engine_version)):
            return dict(suggestion.env), suggestion.flags
    if rule.launch:
        return {}, ()
    return dict(rule.launch_env), rule.launch_flags


def rule_applies(rule: Rule, facts: dict[str, Any]) -> bool:
    if not rule.when:  # a log-only rule explains engine logs; it never fires on facts
        return False
    for key, expected in rule.when.items():
        if _matches(FACT_KINDS[key], expected, facts.get(key)) is not True:
            return False
    return not any(_matches(FACT_KINDS[k], v, facts.get(k)) is True for k, v in rule.unless.items())


class _Blank(string.Formatter):
    """Fill {placeholders} from the context; leave unknown ones visible rather than failing."""

    def get_value(self, key: Any, args: Any, kwargs: Any) -> Any:
        return kwargs.get(key, "{" + str(key) + "}") if isinstance(key, str) else super().get_value(key, args, kwargs)


def render(text: str, context: dict[str, Any]) -> str:
    try:
        return _Blank().format(text, **context)
    except (ValueError, IndexError, KeyError):
        return text


def evaluate(rules: Iterable[Rule], facts: dict[str, Any], context: dict[str, Any] | None = None) -> list[Finding]:
    order = {"error": 0, "warning": 1, "info": 2}
    context = {**facts, **(context or {})}
    fired = [
        Finding(
            rule=r.id,
            severity=r.severity,
            title=render(r.title, context),
            detail=render(r.detail, context),
            fix=render(r.fix, context),
            references=r.references,
            status=r.status,
            fixed_in=r.fixed_in,
            launch_env=env,
            launch_flags=flags,
        )
        for r in rules
        if rule_applies(r, facts)
        for env, flags in [launch_suggestion(r, facts.get("engine_version"))]
    ]
    return sorted(fired, key=lambda f: order[f.severity])
