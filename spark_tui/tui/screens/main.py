"""The main screen: the machine, the models table (catalog + search), and the highlighted model's summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Static

from spark_tui.tui.format import QUANT_FILTERS, SEVERITY_STYLE, VERDICT_STYLE, model_cells, quant_matches
from spark_tui.tui.model_state import ModelRow
from spark_tui.tui.widgets.machine import MachineHeader, machine_text

if TYPE_CHECKING:
    from spark_tui.tui.app import SparkTuiApp

COLUMNS = (("model", "Model"), ("verdict", "Verdict"), ("size", "Size"), ("params", "Params"), ("quant", "Quant"),
           ("moe", "MoE"), ("ctx", "Max ctx"), ("tps", "tok/s≤"), ("pop", "↓/♥"))
SORTS = ("catalog", "verdict", "size", "params", "tok/s", "downloads")
VERDICT_FILTERS = ("all", "ok", "caution", "incompatible", "unknown")
VERDICT_ORDER = {"ok": 0, "caution": 1, "unknown": 2, "incompatible": 3}


class MainScreen(Screen[None]):
    AUTO_FOCUS = "#models"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_search", "Search"),
        Binding("f", "cycle_quant", "Quant"),
        Binding("z", "toggle_fits", "Fits"),
        Binding("v", "cycle_verdict", "Verdict"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("e", "cycle_engine", "Engine"),
        Binding("h", "pick_hardware", "Hardware"),
        Binding("r", "rules", "Rules"),
        Binding("S", "servers", "Servers"),
        Binding("D", "downloads", "Downloads"),
        Binding("d", "download", "Download", show=False),
        Binding("escape", "focus_table", "Table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.ready = False  # set once mounted; the app may call refresh_from_app before that
        self.quant_filter = "all"
        self.fits_only = False
        self.verdict_filter = "all"
        self.sort = "catalog"
        self.search_query = ""
        self._debounce: Timer | None = None

    @property
    def spark(self) -> SparkTuiApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield MachineHeader(id="machine")
        with Horizontal(id="search-bar"):
            yield Input(placeholder="/ search the Hub", id="search")
            yield Static(id="filters")
        yield DataTable(id="models", cursor_type="row", zebra_stripes=True)
        yield Static(id="summary")
        yield Footer()

    def on_mount(self) -> None:
        self.ready = True
        table = self.query_one("#models", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self.refresh_from_app()

    # --- rendering ---
    def visible_rows(self) -> list[ModelRow]:
        rows = [r for r in self.spark.rows.values() if r.origin == "catalog" or self._matches_search(r)]
        rows = [r for r in rows if quant_matches(r, self.quant_filter)]
        if self.fits_only:
            rows = [r for r in rows if r.advice and r.advice.memory and r.advice.memory.fits]
        if self.verdict_filter != "all":
            rows = [r for r in rows if r.advice and r.advice.verdict == self.verdict_filter]
        order = list(self.spark.rows)
        keys = {
            "catalog": lambda r: (r.origin != "catalog", order.index(r.id)),
            "verdict": lambda r: VERDICT_ORDER.get(r.advice.verdict, 9) if r.advice else 9,
            "size": lambda r: (r.facts.weights_bytes or 0) if r.facts else 0,
            "params": lambda r: (r.facts.params_total or 0) if r.facts else 0,
            "tok/s": lambda r: -(r.advice.performance.decode_tokens_per_s_bound or 0) if r.advice else 0,
            "downloads": lambda r: -(r.downloads or 0),
        }
        return sorted(rows, key=keys[self.sort])

    def _matches_search(self, row: ModelRow) -> bool:
        return bool(self.search_query) and self.search_query.lower() in row.id.lower()

    def on_screen_resume(self) -> None:
        self.spark.redraw_if_stale(self)

    def refresh_from_app(self) -> None:
        if not self.ready:
            return
        spark = self.spark
        self.query_one("#machine", MachineHeader).show(machine_text(
            spark.hardware, spark.probed, spark.probe_done, spark.services.engines, spark.services.docker,
            spark.offline, auto=spark.hardware_choice == "auto", knowledge=spark.services.knowledge,
            cached=spark.models_with_facts()))
        self.query_one("#filters", Static).update(Text(
            f"{spark.engine} · {self.quant_filter if self.quant_filter != 'all' else 'any quant'} · "
            f"{'fits' if self.fits_only else 'any size'} · "
            f"{self.verdict_filter if self.verdict_filter != 'all' else 'any verdict'} · by {self.sort}", style="dim"))
        table = self.query_one("#models", DataTable)
        current = self._current_id()
        table.clear()
        for row in self.visible_rows():
            table.add_row(*model_cells(row), key=row.id)
        if current is not None and current in table.rows:
            table.move_cursor(row=table.get_row_index(current))
        self.show_summary()

    def _current_id(self) -> str | None:
        table = self.query_one("#models", DataTable)
        if table.row_count == 0:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except Exception:  # no cursor yet
            return None

    def show_summary(self) -> None:
        summary = self.query_one("#summary", Static)
        model = self._current_id()
        row = self.spark.rows.get(model) if model else None
        summary.update(summary_text(row) if row else Text("No models to show: change a filter or search.",
                                                          style="dim"))

    # --- events ---
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_summary()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        from spark_tui.tui.screens.model import ModelScreen

        row = self.spark.rows.get(str(event.row_key.value))
        if row is not None:
            self.app.push_screen(ModelScreen(row.id))

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        query = event.value.strip()
        self._debounce = self.set_timer(0.4, lambda: self._search(query))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._search(event.value.strip())
        self.query_one("#models", DataTable).focus()

    def _search(self, query: str) -> None:
        if query == self.search_query:
            return
        self.search_query = query
        if len(query) >= 2:
            self.spark.run_search(query)
        self.refresh_from_app()

    # --- actions ---
    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_focus_table(self) -> None:
        self.query_one("#models", DataTable).focus()

    def action_cycle_quant(self) -> None:
        self.quant_filter = QUANT_FILTERS[(QUANT_FILTERS.index(self.quant_filter) + 1) % len(QUANT_FILTERS)]
        self.refresh_from_app()

    def action_toggle_fits(self) -> None:
        self.fits_only = not self.fits_only
        self.refresh_from_app()

    def action_cycle_verdict(self) -> None:
        self.verdict_filter = VERDICT_FILTERS[(VERDICT_FILTERS.index(self.verdict_filter) + 1) % len(VERDICT_FILTERS)]
        self.refresh_from_app()

    def action_cycle_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.refresh_from_app()

    def action_cycle_engine(self) -> None:
        from spark_tui.advisor.types import ENGINES

        self.spark.set_engine(ENGINES[(ENGINES.index(self.spark.engine) + 1) % len(ENGINES)])

    def action_pick_hardware(self) -> None:
        from spark_tui.tui.screens.hardware import HardwareScreen

        def chosen(choice: str | None) -> None:
            if choice:
                self.spark.set_hardware(choice)

        self.app.push_screen(HardwareScreen(self.spark.hardware_choice), chosen)

    def action_downloads(self) -> None:
        from spark_tui.tui.screens.downloads import DownloadsScreen

        self.app.push_screen(DownloadsScreen())

    def action_download(self) -> None:
        model = self._current_id()
        if model is not None:
            self.spark.download(model)

    def action_servers(self) -> None:
        from spark_tui.tui.screens.servers import ServersScreen

        self.app.push_screen(ServersScreen())

    def action_rules(self) -> None:
        from spark_tui.tui.screens.rules import RulesScreen

        self.app.push_screen(RulesScreen())


def summary_text(row: ModelRow) -> Text:
    text = Text(overflow="fold")
    text.append(row.id, style="bold")
    if row.use_case:
        text.append(f"  ({row.use_case})", style="dim")
    if row.stale:
        text.append("  cached", style="yellow")
    text.append("\n")
    if row.error and row.advice is None:
        text.append(row.error, style="red")
        return text
    advice = row.advice
    if advice is None:
        text.append("loading metadata…" if row.loading else "no metadata", style="dim")
        return text
    for engine in advice.engines:
        text.append(f"{engine.engine} ")
        text.append(engine.verdict, style=VERDICT_STYLE[engine.verdict])
        text.append("   ")
    text.append("\n")
    for finding in [f for f in advice.findings if f.severity != "info"][:3]:
        text.append(f"{finding.severity.upper()} ", style=SEVERITY_STYLE[finding.severity])
        text.append(f"{finding.title}\n")
    for unknown in advice.unknowns[:2]:
        text.append(f"unknown: {unknown}\n", style="magenta")
    text.append("Enter: full advice, memory and launch command", style="dim")
    return text
