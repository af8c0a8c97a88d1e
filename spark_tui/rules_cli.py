"""`spark-tui rules`: list the known issues, show one, lint rules files, update or roll back the rules set."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from spark_tui.errors import UsageError


def add_parsers(sub: Any) -> None:
    rules = sub.add_parser("rules", help="the known issues the advisor knows")
    rules.add_argument("--rules", type=Path, action="append", metavar="PATH")
    rules.add_argument("--json", action="store_true")
    rules_sub = rules.add_subparsers(dest="rules_command", parser_class=type(rules))  # one-sentence errors too
    show = rules_sub.add_parser("show", help="one rule in full")
    show.add_argument("id")
    show.add_argument("--json", action="store_true", dest="show_json")
    lint = rules_sub.add_parser("lint", help="validate rules files and run their cases; every problem with file:line "
                                             "(exit 0 clean, 1 problems, 3 PATH unreadable)")
    lint.add_argument("path", nargs="?", type=Path)
    update = rules_sub.add_parser("update", help="fetch a newer rules set; activate it if it passes lint and its cases")
    update.add_argument("--source", metavar="SRC", help="hf:OWNER/NAME[@REVISION] or a folder (default: [rules] "
                        "source in config.toml, or SPARK_TUI_RULES_SOURCE)")
    update.add_argument("--force", action="store_true", help="activate it even if it is older than the active set")
    update.add_argument("--json", action="store_true", dest="update_json")
    rollback = rules_sub.add_parser("rollback", help="return to the previous rules set (the built-in set is the floor)")
    rollback.add_argument("--json", action="store_true", dest="update_json")


def _width() -> int | None:
    """The width to fit text to: COLUMNS when set, else the terminal's; None when piped (then nothing is wrapped,
    so each rule stays one line for grep and cut)."""
    import os
    import shutil

    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def _fill(text: str, width: int | None, indent: str = "") -> list[str]:
    """`text` in lines of at most `width` (words are never cut: one longer than the width gets a line of its own)."""
    import textwrap

    if width is None:
        return [indent + text]
    return textwrap.wrap(text, width=max(width, len(indent) + 20), initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False) or [indent]


def listing_lines(rules: list[Any], width: int | None) -> list[str]:
    """`spark-tui rules`: severity, id, title and reference numbers per rule, in aligned columns. Nothing is cut:
    with a width the title wraps under its own column (or, on a very narrow one, below the id)."""
    if not rules:
        return []
    severity_w = max(len(rule.severity) for rule in rules)
    id_w = max(len(rule.id) for rule in rules)
    lines = []
    for rule in rules:
        refs = " ".join(f"#{r.number}" for r in rule.references if r.number)
        text = rule.generic_title + (f"  {refs}" if refs else "")
        head = f"{rule.severity:{severity_w}} {rule.id:{id_w}}  "
        if width is None or len(head) + len(text) <= width:
            lines.append(head + text)
        elif width - len(head) >= 30:
            wrapped = _fill(text, width - len(head))
            lines += [head + wrapped[0], *(" " * len(head) + more for more in wrapped[1:])]
        else:  # too narrow for columns: the title goes below the id (an id longer than the width stays whole)
            lines += [f"{rule.severity} {rule.id}", *_fill(text, width, indent="    ")]
    return lines


def _rule_json(rule: Any) -> dict[str, Any]:
    return {
        "id": rule.id, "title": rule.title, "severity": rule.severity, "engines": list(rule.engines),
        "status": rule.status,
        "fixed_in": rule.fixed_in, "detail": rule.detail, "fix": rule.fix, "when": rule.when,
        "unless": rule.unless, "log_patterns": list(rule.log_patterns), "launch_env": rule.launch_env,
        "launch_flags": list(rule.launch_flags), "source": rule.source,
        "launch": [{"engine_version": s.engine_version, "env": s.env, "flags": list(s.flags)} for s in rule.launch],
        "cases": len(rule.cases),
        "references": [{"url": r.url, "label": r.label, "number": r.number, "state": r.state}
                       for r in rule.references],
    }


def cmd_rules(args: argparse.Namespace) -> int:
    import textwrap

    from spark_tui.rules.model import generic

    if args.rules_command in ("update", "rollback"):
        return cmd_update(args)
    if args.rules_command == "lint":
        from spark_tui.rules.lint import lint

        report = lint(args.path)
        for problem in report.problems:
            print(problem)
        count = f"{report.rules} rules in {report.files} file(s)"
        if report.unreadable:
            print("Nothing was linted: the path cannot be read.", file=sys.stderr)
        elif report.problems:
            print(f"{len(report.problems)} problem(s); {count} loaded.", file=sys.stderr)
        else:
            print(f"OK: {count}, every case holds.")
        return report.exit_code
    from spark_tui.planning import load_rules

    result = load_rules(args.rules)
    for problem in result.problems:  # a broken user file is reported; the other rules still apply
        print(f"spark-tui: rules: {problem}", file=sys.stderr)
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
        width = min(_width() or 80, 100)  # prose reads best at up to 100 columns
        print(f"{rule.id}  [{rule.severity}, {rule.status}]\n{rule.generic_title}\n")
        print(textwrap.fill(" ".join(generic(rule.detail).split()), width) + "\n")
        print(textwrap.fill("Fix: " + " ".join(generic(rule.fix).split()), width))
        if rule.fixed_in:
            print(f"Fixed in: {rule.fixed_in}")
        print("\nApplies when: " + ", ".join(f"{k} = {v!r}" for k, v in rule.when.items()))
        if rule.unless:
            print("Unless: " + ", ".join(f"{k} = {v!r}" for k, v in rule.unless.items()))
        if rule.launch_flags or rule.launch_env:
            print("Suggests for launch: " + " ".join([*(f"{k}={v}" for k, v in rule.launch_env.items()),
                                                      *rule.launch_flags]))
        engine = rule.engines[0] if rule.engines else "the engine"
        for s in rule.launch:
            print(f"Suggests for {engine} {s.engine_version or 'any version'}: "
                  + (" ".join([*(f"{k}={v}" for k, v in s.env.items()), *s.flags]) or "nothing"))
        fires = sum(c.fires for c in rule.cases)
        print(f"Cases: {len(rule.cases)} ({fires} fire, {len(rule.cases) - fires} do not)")
        for pattern in rule.log_patterns:
            print(f"Log pattern: {pattern}")
        for ref in rule.references:
            print(f"→ {ref.label}{' (' + ref.state + ')' if ref.state else ''}\n  {ref.url}")
        print(f"\nDefined at {rule.source}")
        return 0
    if args.json:
        print(json.dumps([_rule_json(r) for r in result.rules], indent=2))
        return 0
    columns = _width()
    for line in listing_lines(result.rules, columns):
        print(line)
    from spark_tui.rules.knowledge import active_knowledge

    print()
    for line in _fill(f"{len(result.rules)} rules; {active_knowledge().label}. Details: spark-tui rules show ID "
                      "(--json: every rule as JSON)", columns):
        print(line)
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    """`rules update` / `rules rollback`. Exit 0 activated, 1 refused, 3 could not fetch (or bad arguments)."""
    from spark_tui.errors import SparkTuiError
    from spark_tui.rules.update import UpdateRefused, resolve_source, rollback, update

    as_json = args.json or args.update_json
    try:
        if args.rules_command == "rollback":
            outcome = rollback()
        else:
            outcome = update(resolve_source(args.source), force=args.force)
    except SparkTuiError as error:
        if not as_json:
            raise
        refused = error if isinstance(error, UpdateRefused) else None
        print(json.dumps({"ok": False, "as_of": refused and refused.as_of, "source": refused and refused.source,
                          "rules": refused and refused.rules, "error": str(error)}, indent=2))
        return error.exit_code
    knowledge = outcome.knowledge
    if as_json:
        print(json.dumps({"ok": True, "as_of": knowledge.as_of, "source": knowledge.source, "rules": outcome.rules,
                          "error": None}, indent=2))
    else:
        done = "Rolled back to" if args.rules_command == "rollback" else "Activated"
        print(f"{done} {knowledge.label}: {outcome.rules} rules.")
    return 0
