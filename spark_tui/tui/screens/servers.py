"""Running servers: state, live log, generation/prompt tokens/s sparklines, requests, KV cache, TTFT/ITL, and the
GPU (utilisation, memory per process or the unified pool, power, temperature), refreshed about once a second."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Sparkline, Static

from spark_tui.engines.records import ServerRecord
from spark_tui.engines.status import ENDED, STATES
from spark_tui.metrics.gpu import GpuSample
from spark_tui.tui.server_state import ServerView

if TYPE_CHECKING:
    from spark_tui.metrics.scrape import MetricsSample
    from spark_tui.tui.app import SparkTuiApp

STATE_STYLE = {"ready": "bold green", "starting": "yellow", "loading": "yellow", "failed": "bold red",
               "stopped": "dim", "exited": "dim", "damaged": "bold magenta", "stopping…": "yellow"}
GIB = 1024**3
# Columns whose values are bounded get a width that fits every one of them (DataTable sizes a column by what it
# held when its row was added: "stopped" showed as "stopp", 100 % as "10"); the others grow with their values.
FIXED_WIDTH = {"state": max(len(s) for s in (*STATES, "stopping…")), "uptime": len("23h59m"), "kv": len("100%")}


class ServersScreen(Screen[None]):
    AUTO_FOCUS = "#servers"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("x", "stop", "Stop server"),
        Binding("d,delete", "forget", "Remove stopped"),
        Binding("b", "bench", "Bench"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.ready = False
        self._cells: dict[str, dict[str, str]] = {}  # what each row shows, so unchanged cells are left alone

    @property
    def spark(self) -> SparkTuiApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield DataTable(id="servers", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="sparks"):
            with Vertical():
                yield Label("generation tok/s", id="gen-label")
                yield Sparkline([], id="gen-spark")
            with Vertical():
                yield Label("prompt tok/s", id="prompt-label")
                yield Sparkline([], id="prompt-spark")
        yield Static(id="server-detail")
        yield Static(id="server-log")
        yield Footer()

    def on_mount(self) -> None:
        self.ready = True
        table = self.query_one("#servers", DataTable)
        for key, label in (("name", "Server"), ("state", "State"), ("port", "Port"), ("uptime", "Up"),
                           ("gen", "gen tok/s"), ("run", "run/wait"), ("kv", "KV"), ("model", "Model")):
            table.add_column(label, key=key, width=FIXED_WIDTH.get(key))
        self.spark.start_server_polling()
        self.refresh_from_app()

    def on_unmount(self) -> None:
        self.spark.stop_server_polling()

    def selected(self) -> ServerView | None:
        table = self.query_one("#servers", DataTable)
        if table.row_count == 0:
            return None
        name = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        return self.spark.servers.get(name)

    def on_screen_resume(self) -> None:
        self.spark.redraw_if_stale(self)

    def refresh_from_app(self) -> None:
        if not self.ready:
            return
        table = self.query_one("#servers", DataTable)
        current = self.selected()
        same_rows = [str(k.value) for k in table.rows] == list(self.spark.servers)
        if not same_rows:
            table.clear()
            self._cells.clear()
        for name, view in self.spark.servers.items():
            s = view.status
            gen = f"{view.generation_rate[-1]:.1f}" if view.generation_rate and s.state == "ready" else "—"
            m = view.samples[-1] if view.samples and s.state == "ready" else None
            state = self._state_word(view)
            cells = (name, Text(state, style=STATE_STYLE.get(state, "")), str(s.record.port),
                     _uptime(s.uptime_s), gen, _requests(m),
                     f"{m.kv_cache_usage * 100:.0f}%" if m and m.kv_cache_usage is not None else "—", s.record.model)
            if same_rows:  # numbers change every second; rebuilding the table each time would cost CPU
                shown = self._cells.get(name, {})
                for column, value in zip(("state", "uptime", "gen", "run", "kv"), (cells[1], *cells[3:7]),
                                         strict=True):
                    if shown.get(column) != str(value):  # an unchanged cell is not repainted
                        shown[column] = str(value)
                        # A column grows (and shrinks back) with its widest value: "123.4" after "—" is not cut.
                        table.update_cell(name, column, value, update_width=True)
                self._cells[name] = shown
            else:
                table.add_row(*cells, key=name)
        if not same_rows and current is not None and current.status.record.name in table.rows:
            table.move_cursor(row=table.get_row_index(current.status.record.name))
        self.show_selected()

    def show_selected(self) -> None:
        view = self.selected()
        detail = self.query_one("#server-detail", Static)
        log = self.query_one("#server-log", Static)
        gen, prompt = self.query_one("#gen-spark", Sparkline), self.query_one("#prompt-spark", Sparkline)
        if view is None:
            detail.update(Text("No servers. Open a model (Enter) and press L to launch it.", style="dim"))
            log.update("")
            _set_sparkline(gen, [])
            _set_sparkline(prompt, [])
            return
        _set_sparkline(gen, list(view.generation_rate))
        _set_sparkline(prompt, list(view.prompt_rate))
        _update_if_changed(self.query_one("#gen-label", Label), Text(
            f"generation tok/s {view.generation_rate[-1]:.1f}" if view.generation_rate else "generation tok/s"), True)
        _update_if_changed(self.query_one("#prompt-label", Label), Text(
            f"prompt tok/s {view.prompt_rate[-1]:.1f}" if view.prompt_rate else "prompt tok/s"), True)
        _update_if_changed(detail, detail_text(view, self.spark.gpus, self.spark.benching.get(view.status.record.name),
                                               self._state_word(view)))
        size = log.content_size
        _update_if_changed(log, Text("\n".join(_tail_to_fit(view.status.last_lines, size.width, size.height)),
                                     style="dim", overflow="fold"), True)

    def on_resize(self) -> None:
        if self.ready:
            self.show_selected()  # the log shows as many of its last lines as fit

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_selected()

    def action_back(self) -> None:
        self.app.pop_screen()

    def _state_word(self, view: ServerView) -> str:
        """Its state, or "stopping…" from the moment x was confirmed until the stop is done."""
        s = view.status
        return "stopping…" if s.record.name in self.spark.stopping and s.state not in ENDED else s.state

    def action_bench(self) -> None:
        view = self.selected()
        if view is None:
            return
        if view.status.state != "ready":
            self.notify(f"{view.status.record.name} is {view.status.state}: only a ready server can be benchmarked.")
            return
        self.spark.bench_server(view.status.record.name)

    def action_stop(self) -> None:
        """x: stop the selected server, after a y/n question (it ends the engine; a model reload takes minutes)."""
        from spark_tui.tui.screens.confirm import ConfirmScreen

        view = self.selected()
        if view is None:
            return
        s = view.status
        name = s.record.name
        if s.record.external:
            self.notify(f"{name} was not started by spark-tui; it is left alone (stop it where it was started).")
            return
        if s.state in ENDED or name in self.spark.stopping:
            self.notify(f"{name} is {self._state_word(view)}." + (" d removes it from the list."
                                                                   if s.state in ENDED else ""))
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.spark.stop_server(name)

        self.app.push_screen(ConfirmScreen(f"Stop {name} ({s.record.model} on port {s.record.port})? Anything "
                                           "using it loses it; starting it again reloads the model.",
                                           "y: stop it · n / Esc: keep it running"), answered)

    def action_forget(self) -> None:
        """d / Delete: take a server that no longer runs off the list, after a y/n question (its log stays)."""
        from spark_tui.tui.screens.confirm import ConfirmScreen

        view = self.selected()
        if view is None:
            return
        s = view.status
        name = s.record.name
        if s.record.external or s.state not in ENDED:
            why = "it was not started by spark-tui" if s.record.external else f"it is {self._state_word(view)}"
            self.notify(f"{name} stays on the list: {why}." + ("" if s.record.external else " x stops it first."))
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.spark.forget_server(name)

        self.app.push_screen(ConfirmScreen(f"Remove {name} ({s.state}) from the list? Its log stays at "
                                           f"{s.record.log}.", "y: remove · n / Esc: keep"), answered)


def _update_if_changed(widget: Static, text: Text, same_size: bool = False) -> None:
    """Redraw only when the words changed: most seconds the log and the state read the same. A layout pass (over
    the whole screen) only when the widget's height may change: not when `same_size` (its size is fixed by CSS),
    nor when the new words have as many lines as the old and none wraps (the GPU line changes every second)."""
    plain = text.plain
    old = getattr(widget, "_shown", None)
    if old == plain:
        return
    widget._shown = plain  # type: ignore[attr-defined]
    width = widget.content_size.width
    unwrapped = width > 0 and all(cell_len(line) <= width for line in plain.split("\n"))
    same_height = old is not None and unwrapped and getattr(widget, "_unwrapped", False) and \
        old.count("\n") == plain.count("\n")
    widget._unwrapped = unwrapped  # type: ignore[attr-defined]
    widget.update(text, layout=not (same_size or same_height))


def _tail_to_fit(lines: list[str], width: int, height: int) -> list[str]:
    """The last lines that fit `height` rows once folded at `width`: the newest line is always in view (at 80×24
    the last twelve lines ran past the bottom of the screen)."""
    if width <= 0 or height <= 0:  # not laid out yet
        return lines[-12:]
    shown: list[str] = []
    rows = 0
    for line in reversed(lines):
        rows += max(1, -(-cell_len(line) // width))
        if rows > height:
            break
        shown.append(line)
    return shown[::-1]


def _set_sparkline(spark: Sparkline, data: list[float]) -> None:
    """A flat line looks the same however long it is: an idle server's sparklines are not redrawn every second."""
    flat = (len(data) > 1 and min(data) == max(data), data[0] if data else None)
    if flat[0] and getattr(spark, "_flat", None) == flat:
        return
    spark._flat = flat  # type: ignore[attr-defined]
    spark.data = data


def _uptime(seconds: float | None) -> str:
    """At most six characters (FIXED_WIDTH): 42s, 20m, 23h59m, 6d04h, 120d."""
    if seconds is None:
        return "—"
    # Seconds only in the first minute (as `docker ps` does): the table is not repainted every second for it.
    minutes, secs = divmod(max(0, int(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h" if days < 100 else f"{days}d"
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m" if minutes else f"{secs}s"


def _engine_label(record: ServerRecord) -> str:
    """Which engine serves it, and the version its launch was planned for: "llama-server 10573"."""
    from spark_tui.engines.runtime import PROGRAMS

    program = PROGRAMS.get(record.engine)
    version = (record.plan or {}).get("engine_version")
    return (program.title if program else record.engine) + (f" {version}" if isinstance(version, str) else "")


def detail_text(view: ServerView, gpus: list[GpuSample], benching: tuple[int, int] | None = None,
                state: str | None = None) -> Text:
    s = view.status
    state = state or s.state
    ended = s.state in ENDED
    text = Text(overflow="fold")
    text.append(f"{s.record.name}", style="bold")
    text.append(f"  {state}", style=STATE_STYLE.get(state, ""))
    text.append(f" · {_engine_label(s.record)}")
    text.append(f" · {s.progress}")
    text.append(f" · was at {s.record.url}" if ended else f" · {s.record.url}")
    if s.exit_code is not None:
        text.append(f" · exit code {s.exit_code}")
    text.append("\n")
    if benching is not None:
        text.append(f"benchmarking… {benching[0]}/{benching[1]} requests done (2 at a time)\n", style="bold yellow")
    m = view.samples[-1] if view.samples else None
    if m is not None and m.ttft_count:
        text.append("before it ended: " if ended else "")  # this run's figures (a relaunch starts afresh)
        text.append(f"TTFT mean {m.ttft_sum / m.ttft_count * 1000:.0f} ms")
        if m.itl_count:
            text.append(f" · inter-token {m.itl_sum / m.itl_count * 1000:.1f} ms")
        text.append("\n")
    for gpu in gpus:
        text.append(f"GPU{gpu.index} {gpu.utilization_pct if gpu.utilization_pct is not None else 'n/a'}% · ")
        if gpu.unified and gpu.host:
            text.append(f"unified {(gpu.host.total - gpu.host.available) / GIB:.1f}/{gpu.host.total / GIB:.1f} GiB "
                        f"(available {gpu.host.available / GIB:.1f}, free {gpu.host.free / GIB:.1f}, "
                        f"page cache {gpu.host.cached / GIB:.1f})")
        elif gpu.memory_used_bytes is not None and gpu.memory_total_bytes:
            text.append(f"{gpu.memory_used_bytes / GIB:.1f}/{gpu.memory_total_bytes / GIB:.1f} GiB")
        used = [f"pid {p.pid} {p.used_bytes / GIB:.1f} GiB" for p in gpu.processes if p.used_bytes is not None]
        if used:
            text.append(" · " + ", ".join(used[:3]))
        text.append(f" · {gpu.power_w:.0f} W" if gpu.power_w is not None else " · power n/a")
        text.append(f" · {gpu.temperature_c} °C" if gpu.temperature_c is not None else "")
        text.append(f" · {gpu.sm_clock_mhz} MHz\n" if gpu.sm_clock_mhz is not None else "\n")
    for node in s.nodes:  # across nodes: every node's part (sampled over SSH in the app's polling thread)
        text.append(node_line(node) + "\n", style="" if node["state"] == "running" else "bold red")
    if s.record.external:
        text.append("found listening; not started by spark-tui, so x leaves it alone\n", style="dim")
    if s.bench:
        text.append(bench_line(s.bench) + "\n")
    if s.kv_tokens and s.kv_tokens[0] is not None:
        text.append(kv_tokens_line(*s.kv_tokens) + "\n")
    for item in s.diagnosis:
        text.append("known issue ", style="bold red" if s.state == "failed" else "yellow")
        text.append(f"[{item['rule']}] {item['title']}\n")
        text.append(f"  {item['line']}\n", style="dim")
    return text


def node_line(node: dict) -> str:
    """One node of a server across nodes: host, role, state, its memory and GPU use ("n/a" where not known)."""
    avail, total = node.get("memory_available_bytes"), node.get("memory_total_bytes")
    memory = f"{avail / GIB:.1f}/{total / GIB:.1f} GiB available" if avail is not None and total else "memory n/a"
    gpu = node.get("gpu_utilization")
    gpu_text = "GPU n/a" if gpu is None else f"GPU {gpu * 100:.0f}%"
    return f"node {node['host']} ({node['role']}) {node['state']} · {memory} · {gpu_text}"


def bench_line(bench: dict) -> str:
    """The last bench, in one line: what was asked, latency, speed against the bandwidth bound."""
    import time

    minutes = int((time.time() - bench.get("at", time.time())) // 60)
    age = "just now" if minutes < 1 else f"{minutes} min ago" if minutes < 60 else f"{minutes // 60} h ago"
    line = (f"bench {age}: {bench['requests']} req × {bench['concurrency']} · "
            f"TTFT p50 {bench['ttft_ms']['p50']:.0f} ms · ITL p50 {bench['itl_ms']['p50']:.1f} ms · "
            f"{bench['per_stream_tokens_per_s']:.1f} tok/s per stream, {bench['output_tokens_per_s']:.1f} aggregate")
    if bench.get("percent_of_bound") is not None:
        line += f" · {bench['percent_of_bound']:.0f} % of the {bench['bound_tokens_per_s']:.0f} tok/s bound"
    if bench.get("failed"):
        line += f" · {bench['failed']} failed"
    return line


def kv_tokens_line(predicted: int, observed: int | None) -> str:
    """What the plan said the KV cache would hold, and what vLLM said at start-up (the next check uses it)."""
    if observed is None:
        return f"KV cache: {predicted:,} tokens predicted; vLLM's figure comes at start-up"
    error = (predicted - observed) / observed * 100 if observed else 0.0
    return f"KV cache: {predicted:,} tokens predicted, {observed:,} observed (plan {error:+.1f} %)"


def _requests(m: MetricsSample | None) -> str:
    """Running/waiting requests; "—" for what the engine does not report."""
    if m is None or m.requests_running is None:
        return "—"
    return f"{m.requests_running:.0f}/" + ("—" if m.requests_waiting is None else f"{m.requests_waiting:.0f}")
