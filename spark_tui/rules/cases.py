"""Run the examples each rule carries ([[rule.cases]]): the facts it is judged on and whether it must fire.
`rules lint` and the test suite run them for every rule, built-in or the user's."""

from __future__ import annotations

from spark_tui.rules.evaluate import rule_applies
from spark_tui.rules.model import Rule


def case_failures(rule: Rule) -> list[str]:
    """One 'file:line: cases: …' line per case whose outcome is not the one it states."""
    file = rule.source.rsplit(":", 1)[0]
    failures = []
    for number, case in enumerate(rule.cases, 1):
        fired = rule_applies(rule, case.facts)
        if fired != case.fires:
            label = f"case {number}" + (f" ({case.name})" if case.name else "")
            failures.append(f"{file}:{case.line or rule.source.rsplit(':', 1)[-1]}: cases: {rule.id} {label} "
                            f"should {'fire' if case.fires else 'not fire'}, but it {'does' if fired else 'does not'}")
    return failures
