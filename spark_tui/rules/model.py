"""What a rule is: plain frozen data loaded from TOML."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEVERITIES = ("error", "warning", "info")
STATUSES = ("open", "fixed", "workaround", "reported", "by-design", "closed-unfixed")


def generic(text: str) -> str:
    """A rule's text outside a check: fact placeholders ({max_model_len}) shown by name (‹max model len›)."""
    import re

    return re.sub(r"\{(\w+)\}", lambda m: "‹" + m.group(1).replace("_", " ") + "›", text)


@dataclass(frozen=True)
class Reference:
    """An upstream issue, PR or document a rule rests on."""

    url: str
    label: str
    number: int | None = None
    state: str | None = None  # open / closed / merged, as last read


@dataclass(frozen=True)
class Case:
    """An example a rule carries in its own TOML: the facts it is judged on, and whether it must fire."""

    fires: bool
    facts: dict[str, Any]
    name: str = ""
    line: int = 0


@dataclass(frozen=True)
class LaunchSuggestion:
    """What a rule adds to a launch for the engine versions `engine_version` covers (all when None)."""

    engine_version: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    line: int = 0  # of its [[rule.launch]] header


@dataclass(frozen=True)
class Rule:
    """One known issue or caveat: when it applies, what it means, the fix and its evidence."""

    id: str
    title: str
    severity: str
    detail: str
    fix: str
    when: dict[str, Any]
    unless: dict[str, Any] = field(default_factory=dict)
    status: str = "open"
    fixed_in: str | None = None
    references: tuple[Reference, ...] = ()
    log_patterns: tuple[str, ...] = ()
    launch_env: dict[str, str] = field(default_factory=dict)
    launch_flags: tuple[str, ...] = ()
    # Version-dependent suggestions ([[rule.launch]]): the first whose engine_version holds replaces
    # launch_env/launch_flags (e.g. an env var up to the release that dropped it, a flag from the one that added it).
    launch: tuple[LaunchSuggestion, ...] = ()
    cases: tuple[Case, ...] = ()
    source: str = ""  # file:line the rule came from

    @property
    def generic_title(self) -> str:
        return generic(self.title)

    @property
    def engines(self) -> tuple[str, ...]:
        value = self.when.get("engine")
        if value is None:
            return ()
        return tuple(value) if isinstance(value, list) else (value,)


@dataclass(frozen=True)
class CatalogEntry:
    """A model the catalog recommends, and why."""

    id: str
    use_case: str
    engine: str
    format: str
    notes: str = ""
    size_hint: str = ""


@dataclass
class LoadResult:
    """Rules that loaded, and one sentence per problem with those that did not."""

    rules: list[Rule] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "file:line: key: message"
    files: list[Path] = field(default_factory=list)
