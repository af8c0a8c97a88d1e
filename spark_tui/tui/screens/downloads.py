"""Downloads and the local cache: each pull's total and per-file progress, speed and ETA (pause p, resume r,
cancel x); below, the models on disk with size, last use and verdict here, the disk's free space, and delete."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, ProgressBar, Static

from spark_tui.tui.download_state import DownloadJob
from spark_tui.units import human_age, human_bytes

if TYPE_CHECKING:
    from spark_tui.tui.app import SparkTuiApp

STATE_STYLE = {"downloading": "bold green", "planning": "yellow", "paused": "yellow", "pausing…": "yellow",
               "done": "green", "failed": "bold red", "refused": "bold red", "cancelled": "dim", "cancelling…": "dim"}
STATE_WIDTH = max(len(state) for state in STATE_STYLE)  # the State column fits every state it can show
VERDICT_STYLE = {"ok": "green", "caution": "yellow", "incompatible": "bold red", "unknown": "dim"}


def bar(fraction: float, width: int = 20) -> str:
    filled = round(width * max(0.0, min(1.0, fraction)))
    return "█" * filled + "░" * (width - filled)


def _file_state(state: str, job_state: str) -> str:
    """A file whose transfer stopped says why: the pull was paused (its data kept) or cancelled."""
    if state != "stopped":
        return state
    return {"paused": "paused", "pausing…": "paused", "cancelling…": "cancelled", "cancelled": "cancelled"}.get(
        job_state, "stopped")


class DownloadsScreen(Screen[None]):
    AUTO_FOCUS = "#downloads"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("p", "pause", "Pause"),
        Binding("r", "resume", "Resume"),
        Binding("x", "cancel", "Cancel"),
        Binding("delete,X", "delete", "Delete from disk"),
        Binding("tab", "switch", "Downloads/cache", show=False),
    ]

    def __init__(self, poll: bool = True) -> None:
        super().__init__()
        self.poll = poll  # snapshot tests draw fixed data
        self._states: dict[str, str] = {}

    @property
    def spark(self) -> SparkTuiApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Label("Downloads", classes="section")
        yield DataTable(id="downloads", cursor_type="row", zebra_stripes=True)
        yield ProgressBar(id="total-bar", show_eta=False)
        yield Static(id="download-files")
        yield Label(id="cache-title", classes="section")
        yield DataTable(id="cache", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        downloads = self.query_one("#downloads", DataTable)
        for key, label in (("state", "State"), ("done", "Done / total"), ("rate", "Speed"), ("eta", "ETA"),
                           ("model", "Model"), ("note", "")):
            downloads.add_column(label, key=key, width=STATE_WIDTH if key == "state" else None)
        cache = self.query_one("#cache", DataTable)
        for key, label in (("verdict", "Verdict here"), ("size", "Size"), ("used", "Used"), ("model", "Model"),
                           ("revision", "Revision")):
            cache.add_column(label, key=key)
        if self.poll:
            self.spark.scan_cache()
            self.set_interval(0.5, self.refresh_from_app)
        self.refresh_from_app()

    def on_screen_resume(self) -> None:
        self.spark.redraw_if_stale(self)

    def selected_job(self) -> DownloadJob | None:
        table = self.query_one("#downloads", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.spark.downloads.jobs.get(str(key))

    def refresh_from_app(self) -> None:
        if not self.is_mounted:
            return
        try:
            table = self.query_one("#downloads", DataTable)
        except NoMatches:  # a cache scan that lands while the app is closing the screen
            return
        jobs = list(self.spark.downloads.jobs.values())
        states = {j.model: j.state for j in jobs}
        if self.poll and states != self._states:  # a pull paused, ended or was cancelled: the disk changed
            self._states = states
            self.spark.scan_cache()
        if [str(k.value) for k in table.rows] != [j.model for j in jobs]:
            table.clear()
            for job in jobs:
                table.add_row(*self._cells(job), key=job.model)
        else:
            for job in jobs:
                cells = self._cells(job)
                for column, value in zip(("state", "done", "rate", "eta", "note"), (*cells[:4], cells[5]),
                                         strict=True):
                    if str(table.get_cell(job.model, column)) != str(value):
                        # The column grows (or shrinks) to its widest value: "670 B / 23.8 GiB", not "670 B / 23.8"
                        table.update_cell(job.model, column, value, update_width=True)
        self._show_selected()
        self._show_cache()

    def _cells(self, job: DownloadJob) -> tuple[object, ...]:
        snap = job.snapshot()
        done = f"{human_bytes(snap.bytes_done)} / {human_bytes(snap.bytes_total)}" if snap else "—"
        active = job.state == "downloading" and snap is not None
        rate = f"{human_bytes(snap.rate_bps)}/s" if active and snap else "—"
        eta = human_age(snap.eta_s) if active and snap and snap.eta_s is not None else "—"
        return (Text(job.state, style=STATE_STYLE.get(job.state, "")), done, rate, eta, job.model, job.message)

    def _show_selected(self) -> None:
        job = self.selected_job()
        total = self.query_one("#total-bar", ProgressBar)
        files = self.query_one("#download-files", Static)
        snap = job.snapshot() if job else None
        total.display = snap is not None  # no bar at 0 % when nothing is downloading
        if job is None or snap is None:
            total.update(total=100, progress=0)
            files.update(Text("Nothing downloading. Open a model (Enter) and press d to download it.", style="dim")
                         if job is None else Text(job.message or job.state, style="dim"))
            return
        total.update(total=max(1, snap.bytes_total), progress=snap.bytes_done)
        text = Text()
        skipped = job.plan.bytes_skipped if job.plan else 0
        if skipped:
            count = len(job.plan.skipped) if job.plan else 0
            text.append(f"skipped {count} duplicate file{'s' if count != 1 else ''} ({human_bytes(skipped)} saved)\n",
                        style="dim")
        width = 12 if self.size.width < 100 else 20
        for f in sorted(snap.files, key=lambda f: (f.state != "downloading", f.path))[:12]:
            fraction = f.done / f.size if f.size else 1.0
            style = "green" if f.state in ("done", "cached") else "bold" if f.state == "downloading" else "dim"
            text.append(f"{bar(fraction, width)} {fraction:>4.0%} {human_bytes(f.size):>9}  ", style=style)
            text.append(f"{f.path}  {_file_state(f.state, job.state)}\n", style=style)
        files.update(text)

    def _show_cache(self) -> None:
        listing = self.spark.cache_listing
        title = self.query_one("#cache-title", Label)
        table = self.query_one("#cache", DataTable)
        if listing is None:
            title.update("Local cache: reading…")
            return
        used = sum(r.size_bytes for r in listing.revisions)
        partial = f" · {human_bytes(listing.partial_bytes)} in unfinished pulls" if listing.partial_bytes else ""
        held = f"{human_bytes(used)} in {len(listing.revisions)} revisions" if listing.revisions else "no models yet"
        title.update(f"Local cache {listing.cache_dir}: {held} · {human_bytes(listing.free_bytes)} free{partial}")
        keys = [f"{r.model}@{r.revision}" for r in listing.revisions]
        if [str(k.value) for k in table.rows] == keys:
            return
        table.clear()
        now = time.time()
        for r, key in zip(listing.revisions, keys, strict=True):
            verdict = Text(r.verdict or "?", style=VERDICT_STYLE.get(r.verdict or "", ""))
            table.add_row(verdict, human_bytes(r.size_bytes), human_age(now - r.last_accessed), r.model,
                          r.revision[:12] + (f" ({', '.join(r.refs)})" if r.refs else ""), key=key)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "downloads":
            self._show_selected()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_switch(self) -> None:
        other = "#cache" if self.focused and self.focused.id == "downloads" else "#downloads"
        self.query_one(other, DataTable).focus()

    def action_pause(self) -> None:
        job = self.selected_job()
        if job:
            self.spark.downloads.pause(job.model)
            self.refresh_from_app()  # "pausing…" now, not at the next tick

    def action_resume(self) -> None:
        job = self.selected_job()
        if job and job.state in ("paused", "failed", "cancelled", "refused"):
            self.spark.download(job.model)

    def action_cancel(self) -> None:
        job = self.selected_job()
        if job:
            self.spark.downloads.cancel(job.model)
            self.refresh_from_app()  # "cancelling…" now, not at the next tick

    def action_delete(self) -> None:
        from spark_tui.tui.screens.confirm import ConfirmScreen

        listing = self.spark.cache_listing
        table = self.query_one("#cache", DataTable)
        if listing is None or table.row_count == 0:
            return
        key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        chosen = [r for r in listing.revisions if f"{r.model}@{r.revision}" == key]
        if not chosen:
            return
        r = chosen[0]

        def answered(yes: bool | None) -> None:
            if yes:
                self.spark.delete_cached(chosen)

        self.app.push_screen(ConfirmScreen(f"Delete {r.model} @ {r.revision[:12]} from disk, freeing up to "
                                           f"{human_bytes(r.size_bytes)}?"), answered)
