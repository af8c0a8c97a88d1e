"""Browse every known issue: filter by engine and severity; references, fixed_in, affected catalog models."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from spark_tui.advisor import rule_facts
from spark_tui.rules import Rule, rule_applies
from spark_tui.rules.model import generic
from spark_tui.tui.format import SEVERITY_STYLE, issue_text

if TYPE_CHECKING:
    from spark_tui.tui.app import SparkTuiApp

ENGINE_FILTERS = ("all", "vllm", "trtllm", "llamacpp")
SEVERITY_FILTERS = ("all", "error", "warning", "info")


class RulesScreen(Screen[None]):
    AUTO_FOCUS = "#rules"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("e", "cycle_engine", "Engine"),
        Binding("s", "cycle_severity", "Severity"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.ready = False  # set once mounted; the app may call refresh_from_app before that
        self.engine_filter = "all"
        self.severity_filter = "all"

    @property
    def spark(self) -> SparkTuiApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="rules-filters")
        yield DataTable(id="rules", cursor_type="row", zebra_stripes=True)
        yield Static(id="rule-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.ready = True
        table = self.query_one("#rules", DataTable)
        for key, label in (("sev", "Sev"), ("id", "Rule"), ("engine", "Engine"), ("refs", "Refs"),
                           ("title", "Title")):
            table.add_column(label, key=key)
        self.refresh_from_app()

    def visible(self) -> list[Rule]:
        rules = self.spark.services.rules.rules
        if self.engine_filter != "all":
            rules = [r for r in rules if not r.engines or self.engine_filter in r.engines]
        if self.severity_filter != "all":
            rules = [r for r in rules if r.severity == self.severity_filter]
        return rules

    def on_screen_resume(self) -> None:
        self.spark.redraw_if_stale(self)

    def refresh_from_app(self) -> None:
        if not self.ready:
            return
        self.query_one("#rules-filters", Static).update(Text(
            f"{len(self.spark.services.rules.rules)} rules · engine {self.engine_filter} · severity "
            f"{self.severity_filter}", style="dim"))
        table = self.query_one("#rules", DataTable)
        table.clear()
        for rule in self.visible():
            numbers = [f"#{r.number}" for r in rule.references if r.number]
            # the first three keep the column narrow enough for titles; the detail pane lists them all
            refs = " ".join(numbers[:3]) + (f" +{len(numbers) - 3}" if len(numbers) > 3 else "") or "—"
            table.add_row(Text(rule.severity, style=SEVERITY_STYLE[rule.severity]), rule.id,
                          ",".join(rule.engines) or "any", refs, rule.generic_title, key=rule.id)
        self.show_detail()

    def show_detail(self) -> None:
        table = self.query_one("#rules", DataTable)
        detail = self.query_one("#rule-detail", Static)
        if table.row_count == 0:
            detail.update(Text("No rule matches these filters.", style="dim"))
            return
        rule_id = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        rule = next(r for r in self.spark.services.rules.rules if r.id == rule_id)
        detail.update(rule_text(rule, self.affected(rule)))

    def affected(self, rule: Rule) -> list[str]:
        """Catalog models this rule fires for, on the current hardware, with the rule's engine."""
        from spark_tui.advisor.memory import plan_memory

        hits = []
        for row in self.spark.rows.values():
            if row.origin != "catalog" or row.facts is None:
                continue
            engine = rule.engines[0] if rule.engines else self.spark.engine
            options = self.spark.options_for(row)
            options = type(options)(**{**options.__dict__, "engine": engine})
            memory = plan_memory(row.facts, self.spark.hardware, options)
            if rule_applies(rule, rule_facts(row.facts, self.spark.hardware, options, memory)):
                hits.append(row.id)
        return hits

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_cycle_engine(self) -> None:
        self.engine_filter = ENGINE_FILTERS[(ENGINE_FILTERS.index(self.engine_filter) + 1) % len(ENGINE_FILTERS)]
        self.refresh_from_app()

    def action_cycle_severity(self) -> None:
        index = (SEVERITY_FILTERS.index(self.severity_filter) + 1) % len(SEVERITY_FILTERS)
        self.severity_filter = SEVERITY_FILTERS[index]
        self.refresh_from_app()


def rule_text(rule: Rule, affected: list[str]) -> Text:
    text = issue_text(rule.severity, rule.generic_title, rule.status, generic(rule.detail), generic(rule.fix),
                      rule.fixed_in, rule.references)
    text.append("Affects here: ", style="bold")
    text.append(", ".join(affected) if affected else "no catalog model on this hardware")
    return text
