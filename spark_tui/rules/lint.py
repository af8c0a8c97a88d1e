"""`spark-tui rules lint [PATH]`: every problem in a rules file or folder, one `PATH:LINE: message` line each.

Everything the loader refuses (what makes `check` skip a rule with the same message) is listed, and lint asks more
of each rule that loads; these leave `check` alone, because the rule still gives correct advice:
- a case that fires and a case that does not (a rule that only explains logs, with an empty `when`, cannot fire
  on facts and needs none);
- each launch suggestion covers only engine versions that read its settings (the plan drops the others, with a note);
- a user's rule does not reuse a built-in id (`check` would ignore it).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from spark_tui.rules import knobs
from spark_tui.rules.lines import KeyLines
from spark_tui.rules.loader import load_rules, read_text, shown
from spark_tui.rules.model import Rule

EXIT_CLEAN, EXIT_PROBLEMS, EXIT_UNREADABLE = 0, 1, 3


@dataclass
class LintReport:
    problems: list[str] = field(default_factory=list)
    rules: int = 0
    files: int = 0
    unreadable: bool = False  # PATH itself could not be read (missing, not a file or folder, refused)

    @property
    def exit_code(self) -> int:
        return EXIT_UNREADABLE if self.unreadable else EXIT_PROBLEMS if self.problems else EXIT_CLEAN


def _unreadable(path: Path) -> str | None:
    """Why PATH cannot be read at all, or None. A problem inside a file (syntax, encoding) is not this."""
    if not os.path.lexists(path):
        return f"{shown(path)}: no such rules file or folder"
    if path.is_dir():
        try:
            os.scandir(path).close()
        except OSError as exc:
            return f"{shown(path)}: cannot read: {exc.strerror or exc}"
        return None
    text, problem = read_text(path)
    if text is None and problem and not re.match(r"\d+:", problem[len(shown(path)) + 1:]):
        return problem  # no line: the file was not read (FIFO, device, too large, no permission)
    return None


def _coverage(rule: Rule) -> str | None:
    if not rule.when:
        return None  # a log-only rule never fires on facts
    fires = {case.fires for case in rule.cases}
    missing = [word for word, value in (("fires", True), ("does not fire", False)) if value not in fires]
    if not missing:
        return None
    return (f"{rule.source}: cases: {rule.id} has no case that {' and none that '.join(missing)}; add [[rule.cases]] "
            f"tables with fires = true and fires = false and the facts each is judged on")


def _version_problems(rule: Rule, lines: KeyLines | None) -> list[str]:
    """Launch settings suggested for engine versions that do not read them (see knobs.HONOURED_ENV, Knob.honoured)."""
    file, rule_line = rule.source.rsplit(":", 1)
    index = lines.starts.index(int(rule_line)) if lines and int(rule_line) in lines.starts else None
    when_spec = rule.when.get("engine_version")
    entries = [(s.engine_version, s.env, s.flags, s.line, "launch") for s in rule.launch]
    if not rule.launch:
        entries.append((None, rule.launch_env, rule.launch_flags, 0, ""))
    elif rule.launch_env or rule.launch_flags:
        key = "launch_env" if rule.launch_env else "launch_flags"
        line = lines.key_line(index, key) if lines and index is not None else rule_line
        return [f"{file}:{line}: {key}: never used: a rule with [[rule.launch]] entries takes its settings only from "
                "them; move these into an entry"]
    problems = []
    for spec, env, flags, line, where in entries:
        covered = ",".join(s for s in (when_spec, spec) if isinstance(s, str)) or None
        what = f"the [[rule.launch]] entry for {spec or 'every version'}" if where else "a suggestion for every version"
        for engine in rule.engines:
            settings = [(f"{name}={value}", knobs.env_honoured(engine, name), f"launch_env.{name}")
                        for name, value in env.items()]
            settings += [(" ".join(tokens), knobs.flag_honoured(knob, tokens), "launch_flags")
                         for knob, tokens in knobs.flag_groups(engine, flags)[0]]
            for text, honoured, key in settings:
                gap = knobs.uncovered_version(covered, honoured) if honoured else None
                if gap is None:
                    continue
                at = line or (lines.key_line(index, key) if lines and index is not None else rule_line)
                problems.append(f"{file}:{at}: {where or key.split('.')[0]}: {text} is read only by {engine} "
                                f"{honoured}, but {what} also covers {engine} {gap}; "
                                f"{'narrow its engine_version' if where else 'put it in a [[rule.launch]] entry'}")
    return problems


def _sort_key(order: dict[str, int], problem: str) -> tuple[int, int]:
    match = re.match(r"(.*?):(\d+):", problem)
    file, line = (match.group(1), int(match.group(2))) if match else (problem.split(":", 1)[0], 0)
    return order.get(file, len(order)), line


def lint(path: Path | None, against_builtin: bool = True) -> LintReport:
    """`against_builtin`: a user's file must not reuse a built-in id. A whole rules set (an update) replaces the
    built-in one, so its ids are its own."""
    from spark_tui.rules import active_rule_paths, builtin_rule_paths

    paths = [path] if path is not None else active_rule_paths()  # no PATH: the rules `check` uses
    report = LintReport()
    for given in paths:
        if (problem := _unreadable(given)) is not None:
            report.problems.append(problem)
            report.unreadable = True
    if report.unreadable:
        return report
    result = load_rules(paths)
    report.rules, report.files = len(result.rules), len(result.files)
    problems = list(result.problems)
    lines: dict[str, KeyLines | None] = {}
    for rule in result.rules:
        file = rule.source.rsplit(":", 1)[0]
        if file not in lines:
            text = read_text(Path(file))[0]
            lines[file] = KeyLines(text) if text is not None else None
        if (missing := _coverage(rule)) is not None:
            problems.append(missing)
        problems += _version_problems(rule, lines[file])
    builtin = [p.resolve() for p in builtin_rule_paths()]
    if against_builtin and path is not None and not any(path.resolve() == b or b in path.resolve().parents
                                                         for b in builtin):
        ids = {r.id for r in load_rules(builtin_rule_paths()).rules}
        problems += [f"{r.source}: id: '{r.id}' is already a built-in rule's id (check would ignore this one); "
                     "choose another id" for r in result.rules if r.id in ids]
    order = {shown(f): n for n, f in enumerate(result.files)}
    report.problems = sorted(problems, key=lambda p: _sort_key(order, p))
    return report
