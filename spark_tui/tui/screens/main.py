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
from spark_tui.tui.widgets.table import NavTable

if TYPE_CHECKING:
    from spark_tui.tui.app import SparkTuiApp

# Every column model_cells gives, in its order; each with its label and a width that holds every value it can show.
CELL_KEYS = ("model", "verdict", "size", "params", "quant", "moe", "ctx", "tps", "pop")
LABELS = {"model": "Model", "verdict": "Verdict", "size": "Size", "params": "Params", "quant": "Quant", "moe": "MoE",
          "ctx": "Max len", "tps": "tok/s≤", "pop": "↓/♥"}
WIDTHS = {"verdict": 12, "size": 9, "ctx": 9, "tps": 6, "quant": 11, "params": 13, "moe": 7, "pop": 11}
ALWAYS = ("verdict", "size", "ctx", "tps")  # with the model: visible at 80 columns, whatever else is dropped
OPTIONAL = ("quant", "params", "moe", "pop")  # added in this order while the model column keeps MODEL_MIN
MODEL_MIN = 36
SORTS = ("catalog", "verdict", "size", "params", "tok/s", "downloads")
SORT_COLUMN = {"verdict": ("verdict", "▲"), "size": ("size", "▼"), "params": ("params", "▼"), "tok/s": ("tps", "▼"),
               "downloads": ("pop", "▼")}
VERDICT_FILTERS = ("all", "ok", "caution", "incompatible", "unknown")
VERDICT_ORDER = {"ok": 0, "caution": 1, "unknown": 2, "incompatible": 3}


class MainScreen(Screen[None]):
    AUTO_FOCUS = "#models"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_search", "Search"),
        # At 80 columns the footer has room for the keys used most (and ?); the others are in ? and ctrl+p.
        Binding("f", "cycle_quant", "Quant", show=False),
        Binding("z", "toggle_fits", "Fits", show=False),
        Binding("v", "cycle_verdict", "Verdict", show=False),
        Binding("s", "cycle_sort", "Sort"),
        Binding("e", "cycle_engine", "Engine", show=False),
        Binding("h", "pick_hardware", "Hardware", show=False),
        Binding("r", "rules", "Rules", show=False),
        Binding("S", "servers", "Servers"),
        Binding("D", "downloads", "Downloads"),
        Binding("d", "download", "Download", show=False),
        Binding("escape", "escape", "Clear / table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.ready = False  # set once mounted; the app may call refresh_from_app before that
        self.quant_filter = "all"
        self.fits_only = False
        self.verdict_filter = "all"
        self.sort = "catalog"
        self.search_query = ""  # what the table is narrowed to (as typed, live)
        self._hub_query = ""  # what the Hub was last asked
        self._debounce: Timer | None = None
        self.columns: tuple[str, ...] = ()  # the columns shown at the current width

    @property
    def spark(self) -> SparkTuiApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield MachineHeader(id="machine")
        with Horizontal(id="search-bar"):
            yield Input(placeholder="/ search the Hub", id="search")
            yield Static(id="filters")
        yield NavTable(id="models", cursor_type="row", zebra_stripes=True)
        yield Static(id="summary")
        yield Footer()

    def on_mount(self) -> None:
        self.ready = True
        self.refresh_from_app()

    def on_resize(self) -> None:
        self.refresh_from_app()

    def _layout(self) -> tuple[tuple[str, ...], int]:
        """The columns that fit this width (the model's, then ALWAYS, then OPTIONAL while the model keeps
        MODEL_MIN) and the model column's width. Each column takes 2 more cells of padding; 2 for the scrollbar."""
        width = max(self.size.width, 40)
        used = 2 + 2 + sum(WIDTHS[k] + 2 for k in ALWAYS)
        chosen = list(ALWAYS)
        for key in OPTIONAL:
            if width - used - (WIDTHS[key] + 2) >= MODEL_MIN:
                chosen.append(key)
                used += WIDTHS[key] + 2
        order = [k for k in ("verdict", "size", "ctx", "tps", "quant", "params", "moe", "pop") if k in chosen]
        return ("model", *order), max(12, width - used)

    def _ensure_columns(self, table: DataTable) -> int:
        columns, model_width = self._layout()
        labels = {**LABELS}
        if self.sort in SORT_COLUMN:
            key, arrow = SORT_COLUMN[self.sort]
            labels[key] = f"{labels[key]} {arrow}"
        wanted = (columns, model_width, tuple(labels[k] for k in columns))
        if getattr(self, "_columns_key", None) != wanted:
            self._columns_key = wanted
            self.columns = columns
            table.clear(columns=True)
            for key in columns:
                table.add_column(labels[key], key=key, width=model_width if key == "model" else WIDTHS[key])
        return model_width

    # --- rendering ---
    def visible_rows(self) -> list[ModelRow]:
        if self.search_query:  # narrowed to the matches, catalog and Hub results together
            rows = [r for r in self.spark.rows.values() if self._matches_search(r)]
        else:
            rows = [r for r in self.spark.rows.values() if r.origin == "catalog"]
        rows = [r for r in rows if quant_matches(r, self.quant_filter)]
        if self.fits_only:
            rows = [r for r in rows if r.advice and r.advice.memory and r.advice.memory.fits]
        if self.verdict_filter != "all":
            rows = [r for r in rows if r.advice and r.advice.verdict == self.verdict_filter]
        order = list(self.spark.rows)
        keys = {
            "catalog": lambda r: (r.origin != "catalog", order.index(r.id)),
            "verdict": lambda r: VERDICT_ORDER.get(r.advice.verdict, 9) if r.advice else 9,
            # Largest first, unknown last.
            "size": lambda r: _descending(r.facts.weights_bytes if r.facts else None),
            "params": lambda r: _descending(r.facts.params_total if r.facts else None),
            "tok/s": lambda r: _descending(r.advice.performance.decode_tokens_per_s_bound if r.advice else None),
            "downloads": lambda r: _descending(r.downloads if r.downloads is not None else
                                               (r.facts.downloads if r.facts else None)),
        }
        return sorted(rows, key=keys[self.sort])

    def _matches_search(self, row: ModelRow) -> bool:
        """Every word of the query is in the model id (case ignored), or the Hub returned it for this query."""
        words = self.search_query.lower().split()
        return all(w in row.id.lower() for w in words) or row.id in self.spark.search_hits.get(self._hub_query, ())

    def on_screen_resume(self) -> None:
        self.spark.redraw_if_stale(self)

    def refresh_from_app(self) -> None:
        if not self.ready:
            return
        spark = self.spark
        self.query_one("#machine", MachineHeader).show(machine_text(
            spark.hardware, spark.probed, spark.probe_done, spark.engines, spark.services.docker,
            spark.offline, auto=spark.hardware_choice == "auto", knowledge=spark.services.knowledge,
            cached=spark.models_with_facts()))
        self.query_one("#filters", Static).update(Text(
            f"{spark.engine} · {self.quant_filter if self.quant_filter != 'all' else 'any quant'} · "
            f"{'fits' if self.fits_only else 'any size'} · "
            f"{self.verdict_filter if self.verdict_filter != 'all' else 'any verdict'} · by {self.sort}"
            f"{' ' + SORT_COLUMN[self.sort][1] if self.sort in SORT_COLUMN else ''}", style="dim"))
        table = self.query_one("#models", DataTable)
        current = self._current_id()
        model_width = self._ensure_columns(table)
        table.clear()
        for row in self.visible_rows():
            cells = dict(zip(CELL_KEYS, model_cells(row), strict=True))
            cells["model"] = _model_cell(row.id, self.search_query, model_width)
            table.add_row(*(cells[k] for k in self.columns), key=row.id)
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
        """The table narrows as you type; the Hub is asked once typing pauses."""
        query = event.value.strip()
        if query != self.search_query:
            self.search_query = query
            self.refresh_from_app()
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(0.4, lambda: self._ask_hub(query))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter: the cursor on the first match, in the table."""
        if self._debounce is not None:
            self._debounce.stop()
        self._ask_hub(event.value.strip())
        table = self.query_one("#models", DataTable)
        table.focus()
        if table.row_count:
            table.move_cursor(row=0)

    def _ask_hub(self, query: str) -> None:
        if query == self._hub_query:
            return
        self._hub_query = query
        if len(query) >= 2:
            self.spark.run_search(query)

    # --- actions ---
    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_escape(self) -> None:
        """Esc clears the search (from the field or the table) and returns to the table."""
        search = self.query_one("#search", Input)
        if search.value:
            search.value = ""  # (Input.Changed clears the narrowing)
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


def _descending(value: float | None) -> tuple[bool, float]:
    return (value is None, -(value or 0))


def _model_cell(model: str, query: str, width: int) -> Text:
    """The model id, cut to the column with … (its end kept: the variant is what differs), the query's words
    highlighted."""
    shown = model if len(model) <= width else model[: max(1, width - 1 - 12)] + "…" + model[-12:]
    text = Text(shown)
    lowered = shown.lower()
    for word in query.lower().split():
        start = lowered.find(word)
        while start >= 0:
            text.stylize("bold reverse", start, start + len(word))
            start = lowered.find(word, start + len(word))
    return text


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
