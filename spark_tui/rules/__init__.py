"""Rules: known engine/hardware/checkpoint issues as TOML data, and the catalog of recommended models."""

from __future__ import annotations

import os
from pathlib import Path

from spark_tui.paths import config_dir, data_dir
from spark_tui.rules.evaluate import Finding, evaluate, rule_applies
from spark_tui.rules.model import CatalogEntry, LoadResult, Reference, Rule

__all__ = [
    "CatalogEntry", "Finding", "LoadResult", "Reference", "Rule", "active_rule_paths", "builtin_rule_paths",
    "evaluate", "load_all_rules", "load_catalog", "load_rules", "load_rules_file", "rule_applies", "user_rule_paths",
]


def load_rules(paths: list[Path]) -> LoadResult:
    from spark_tui.rules.loader import load_rules as load  # parsing and validation: only on a cache miss

    return load(paths)


def load_rules_file(path: Path) -> LoadResult:
    from spark_tui.rules.loader import load_rules_file as load

    return load(path)


def load_catalog(path: Path) -> tuple[list[CatalogEntry], list[str]]:
    from spark_tui.rules.loader import load_catalog as load

    return load(path)


def builtin_rule_paths() -> list[Path]:
    """The rules shipped with spark-tui (the floor of `rules rollback`)."""
    return [data_dir() / "known-issues"]


def active_rule_paths() -> list[Path]:
    """The active rules set's known issues: the built-in ones, or the set `spark-tui rules update` installed."""
    from spark_tui.rules.knowledge import active_knowledge

    return [active_knowledge().known_issues]


def user_rule_paths() -> list[Path]:
    folder = config_dir() / "rules"
    return [folder] if folder.is_dir() else []


def load_all_rules(extra: list[Path] | None = None) -> LoadResult:
    """The active set's rules, then the user's rules folder, then any --rules PATH (and SPARK_TUI_RULES)."""
    paths = active_rule_paths() + user_rule_paths() + list(extra or [])
    env = os.environ.get("SPARK_TUI_RULES")
    if env:
        paths += [Path(p) for p in env.split(os.pathsep) if p]
    from spark_tui.datacache import cached

    code = Path(__file__).parent
    inputs = [*sorted(code.glob("*.py")), *paths]  # the loader now runs checks.py, cases.py, evaluate.py too
    return cached("rules", inputs, lambda: load_rules(paths), LoadResult)
