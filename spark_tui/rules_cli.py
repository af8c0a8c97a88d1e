"""`spark-tui rules`: list the known issues, show one, lint rules files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from spark_tui.errors import EXIT_UNKNOWN, UsageError


def add_parsers(sub: Any) -> None:
    rules = sub.add_parser("rules", help="the known issues the advisor knows")
    rules.add_argument("--rules", type=Path, action="append", metavar="PATH")
    rules.add_argument("--json", action="store_true")
    rules_sub = rules.add_subparsers(dest="rules_command", parser_class=type(rules))  # one-sentence errors too
    show = rules_sub.add_parser("show", help="one rule in full")
    show.add_argument("id")
    show.add_argument("--json", action="store_true", dest="show_json")
    lint = rules_sub.add_parser("lint", help="validate rules files; every problem with file:line")
    lint.add_argument("path", nargs="?", type=Path)


def _rule_json(rule: Any) -> dict[str, Any]:
    return {
        "id": rule.id, "title": rule.title, "severity": rule.severity, "status": rule.status,
        "fixed_in": rule.fixed_in, "detail": rule.detail, "fix": rule.fix, "when": rule.when,
        "unless": rule.unless, "log_patterns": list(rule.log_patterns), "launch_env": rule.launch_env,
        "launch_flags": list(rule.launch_flags), "source": rule.source,
        "launch": [{"engine_version": e.engine_version, "env": e.env, "flags": list(e.flags)} for e in rule.launch],
        "references": [{"url": r.url, "label": r.label, "number": r.number, "state": r.state}
                       for r in rule.references],
    }


def cmd_rules(args: argparse.Namespace) -> int:
    import textwrap

    from spark_tui.rules import load_rules
    from spark_tui.rules.model import generic

    if args.rules_command == "lint":
        from spark_tui.rules import builtin_rule_paths

        paths = [args.path] if args.path else builtin_rule_paths()
        result = load_rules(paths)
        for problem in result.problems:
            print(problem)
        count = f"{len(result.rules)} rules in {len(result.files)} file(s)"
        if result.problems:
            print(f"{len(result.problems)} problem(s); {count} loaded.", file=sys.stderr)
            return EXIT_UNKNOWN
        print(f"OK: {count}.")
        return 0
    from spark_tui.cli import _load_rules

    result = _load_rules(args.rules)
    if args.rules_command == "show":
        rule = next((r for r in result.rules if r.id == args.id), None)
        if rule is None:
            import difflib

            close = difflib.get_close_matches(args.id, [r.id for r in result.rules], n=3)
            raise UsageError(f"No rule '{args.id}'.", f"Did you mean {', '.join(close)}?" if close else
                             "List them with: spark-tui rules")
        if args.show_json:
            print(json.dumps(_rule_json(rule), indent=2))
            return 0
        print(f"{rule.id}  [{rule.severity}, {rule.status}]\n{rule.generic_title}\n")
        print(textwrap.fill(" ".join(generic(rule.detail).split()), 80) + "\n")
        print(textwrap.fill("Fix: " + " ".join(generic(rule.fix).split()), 80))
        if rule.fixed_in:
            print(f"Fixed in: {rule.fixed_in}")
        print("\nApplies when: " + ", ".join(f"{k} = {v!r}" for k, v in rule.when.items()))
        if rule.unless:
            print("Unless: " + ", ".join(f"{k} = {v!r}" for k, v in rule.unless.items()))
        if rule.launch_flags or rule.launch_env:
            print("Suggests for launch: " + " ".join([*(f"{k}={v}" for k, v in rule.launch_env.items()),
                                                      *rule.launch_flags]))
        for entry in rule.launch:  # version-dependent suggestions: the first that holds is used
            print(f"Suggests for launch ({entry.engine_version or 'any version'}): "
                  + " ".join([*(f"{k}={v}" for k, v in entry.env.items()), *entry.flags]))
        for pattern in rule.log_patterns:
            print(f"Log pattern: {pattern}")
        for ref in rule.references:
            print(f"→ {ref.label}{' (' + ref.state + ')' if ref.state else ''}\n  {ref.url}")
        print(f"\nDefined at {rule.source}")
        return 0
    if args.json:
        print(json.dumps([_rule_json(r) for r in result.rules], indent=2))
        return 0
    for rule in result.rules:
        refs = " ".join(f"#{r.number}" for r in rule.references if r.number)
        print(f"{rule.severity[:4]:4} {rule.id:38} {rule.generic_title[:80]}" + (f"  {refs}" if refs else ""))
    print(f"\n{len(result.rules)} rules. Details: spark-tui rules show ID")
    return 0
