"""SparkTuiApp: the machine, the models worth running on it, and the advisor's verdict for each.

All I/O (Hub, NVML, cache files) runs in thread workers that post messages; the UI thread owns the state and
computes advice (pure and fast) whenever the hardware, the engine or a model's options change.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.timer import Timer

from spark_tui.advisor import LaunchPlan, PlanOptions, advise
from spark_tui.errors import EXIT_INTERNAL, HubUnavailableError, SparkTuiError
from spark_tui.hardware import DEFAULT_PLANNING_PROFILE, from_profile
from spark_tui.hardware.facts import HardwareFacts
from spark_tui.services import EngineStatus, Services
from spark_tui.tui.background import in_daemon_thread
from spark_tui.tui.download_state import DownloadManager
from spark_tui.tui.messages import (
    CacheScanned,
    FactsLoaded,
    HardwareProbed,
    LaunchFailed,
    Notice,
    ObservationsLoaded,
    RuntimeFound,
    SearchFinished,
)
from spark_tui.tui.model_state import ModelRow
from spark_tui.tui.server_state import ServerView
from spark_tui.tui.server_work import ServerWork


class SparkTuiApp(ServerWork, App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "spark-tui"
    BINDINGS = [  # noqa: RUF012 (Textual's own convention)
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
    ]
    # The app's own actions in the command palette (ctrl+p): (title, help, action on the current screen).
    PALETTE_ACTIONS = (
        ("Search the Hub", "narrow the models table as you type (/)", "focus_search"),
        ("Filter by quantization", "cycle NVFP4, MXFP4, … (f)", "cycle_quant"),
        ("Only models that fit", "toggle (z)", "toggle_fits"),
        ("Filter by verdict", "cycle ok, caution, … (v)", "cycle_verdict"),
        ("Sort", "cycle catalog, verdict, size, … (s)", "cycle_sort"),
        ("Switch engine", "vLLM, TensorRT-LLM, llama.cpp (e)", "cycle_engine"),
        ("Pick hardware", "plan for another machine (h)", "pick_hardware"),
        ("Rules", "the known issues and which models they touch (r)", "rules"),
        ("Downloads", "transfers and the local cache (D)", "downloads"),
        ("Servers", "running servers, tok/s, KV cache, GPU (S)", "servers"),
        ("Launch the model", "open the launch dialog (L, in a model's detail)", "launch"),
        ("Bench the server", "load the selected server (b, on Servers)", "bench"),
        ("Stop the server", "stop the selected server (x, on Servers)", "stop"),
    )

    def __init__(self, services: Services, hardware: str = "auto", refresh_from_hub: bool = True,
                 poll_servers: bool = True) -> None:
        super().__init__()
        self.services = services
        self.hardware_choice = hardware  # "auto" or a profile id
        self.probed: HardwareFacts | None = None
        self.probe_done = hardware != "auto"
        self.hardware: HardwareFacts = from_profile(services.profiles[
            hardware if hardware in services.profiles else DEFAULT_PLANNING_PROFILE])
        self.engine = "vllm"
        self.rows: dict[str, ModelRow] = {}
        self.offline = False
        self.refresh_from_hub = refresh_from_hub
        self._fetch_slots = asyncio.Semaphore(4)  # at most 4 Hub fetches at once
        self._refresh_timer: Timer | None = None
        self.servers: dict[str, ServerView] = {}
        self.gpus: list = []
        self._server_timer: Timer | None = None
        self._poll_servers = poll_servers  # tests that feed recorded samples turn the live polling off
        self._polls = 0
        self._polling = False  # a poll is out (a server slow to answer): the next second's is skipped
        self.benching: dict[str, tuple[int, int]] = {}  # server → (requests done, requests) of the app's bench
        self.stopping: set[str] = set()  # servers being stopped (x), shown as "stopping…" until it is done
        self._external: list = []  # vLLM servers found listening that spark-tui did not start
        self.observations: tuple = ()  # what launches here printed at start-up: the plans use them
        self.search_hits: dict[str, set[str]] = {}  # what the Hub returned for each query
        self.engines = list(services.engines)  # each entry becomes the one a launch would run, once found
        # Per engine: which executable or image a launch runs, once found; or why there is none.
        self.runtime_labels: dict[str, str] = {}
        self.runtime_missing: dict[str, str] = {}
        self.downloads = DownloadManager(services.plan_download, services.pull, self._notify_from_thread)
        self.cache_listing: Any = None  # the local model cache, once scanned
        for entry in services.catalog:
            self.rows[entry.id] = ModelRow(entry.id, "catalog", use_case=entry.use_case)
        self.rule_problems = list(services.rules.problems)

    def get_system_commands(self, screen: Any) -> Any:
        """Textual's own commands, then the app's actions that the current screen can do."""
        from textual.app import SystemCommand

        yield from super().get_system_commands(screen)
        for title, help_text, action in self.PALETTE_ACTIONS:
            method = getattr(screen, f"action_{action}", None)
            if callable(method):
                yield SystemCommand(title, help_text, method)

    def action_help(self) -> None:
        from textual.screen import ModalScreen

        from spark_tui.tui.screens.help import HelpScreen

        if not isinstance(self.screen, ModalScreen):
            self.push_screen(HelpScreen(self.screen))

    def _handle_exception(self, error: Exception) -> None:
        """Textual's hook for an exception nothing handled (Textual is pinned exactly, see pyproject.toml). In a
        terminal it ends like the CLI's last resort: the traceback goes to a saved report, the user gets one
        sentence and exit status 4. Under Pilot (tests) Textual's own handling re-raises it for the test to see."""
        if self.is_headless:
            super()._handle_exception(error)
            return
        from spark_tui.crash import save_report

        report = save_report(error, sys.argv)
        where = f" A report was saved to {report}." if report else ""
        self.exit(return_code=EXIT_INTERNAL, message=f"spark-tui: internal error ({type(error).__name__}); this "
                  f"is a bug in spark-tui.{where}\n  Please report it with that file.")

    def on_mount(self) -> None:
        from spark_tui.tui.screens.main import MainScreen

        self.push_screen(MainScreen())
        if self.hardware_choice == "auto":
            self.probe_hardware()
            # Memory in use changes while people work: probe again now and then (NVML answers in microseconds).
            self.set_interval(10, self.probe_hardware)
        for row in list(self.rows.values()):
            self.load_model(row.id)
        self.load_observations()
        self.find_runtime()
        if self.rule_problems:
            self.notify("\n".join(self.rule_problems[:5]), title="Rules file problems", severity="error",
                        timeout=15)

    # --- workers (threads): never touch widgets here, post messages ---
    @work(thread=True, group="hardware")
    def probe_hardware(self) -> None:
        try:
            found = self.services.probe_hardware()
        except Exception:  # NVML trouble is never fatal: plan for a profile instead
            found = None
        self.post_message(HardwareProbed(found))

    @work(thread=True, exclusive=True, group="runtime")
    def find_runtime(self) -> None:
        """What a launch of each engine would run (a local executable, else an image docker has) and its version, so
        the verdicts are for the version that runs. `vllm --version` takes seconds: a worker."""
        from spark_tui.advisor.types import ENGINES

        for engine in ENGINES:
            try:
                runtime = self.services.resolve_runtime(engine)
                version = self.services.runtime_version(runtime)
            except SparkTuiError as exc:
                self.post_message(RuntimeFound(engine, None, None, None, None, missing=exc.message))
                continue
            except Exception:  # a broken docker or executable is never worth a broken screen
                continue
            self.post_message(RuntimeFound(engine, runtime.kind, runtime.describe(), runtime.image, version))

    def on_runtime_found(self, message: RuntimeFound) -> None:
        if message.description is None:
            self.runtime_missing[message.engine] = message.missing or "not found"
            return
        from spark_tui.engines.runtime import program_of

        where = "local" if message.kind == "local" else (message.image or "container")
        title = program_of(message.engine).title
        self.runtime_labels[message.engine] = (message.description +
                                               (f" ({title} {message.version})" if message.version else ""))
        self.engines = [EngineStatus(e.name, message.version or e.version, e.newest_known, where)
                        if e.name == message.engine else e for e in self.engines]
        if message.engine != self.engine:  # only the verdicts shown are judged again for the version found
            self.refresh_views(now=True)
            return
        for row in self.rows.values():
            self.advise_row(row)
        self.refresh_views(now=True)

    @work(thread=True, exclusive=True, group="calibration")
    def load_observations(self) -> None:
        try:
            found = tuple(self.services.observations())
        except Exception:  # calibration is worth having, never worth a broken screen
            return
        self.post_message(ObservationsLoaded(found))

    def on_observations_loaded(self, message: ObservationsLoaded) -> None:
        if message.observations != self.observations:
            self.observations = message.observations
            self.recompute()

    # Hub workers are async and await daemon threads (see tui/background.py): quitting never waits on a stuck Hub.
    @work(group="facts")
    async def load_model(self, model: str) -> None:
        cached = await in_daemon_thread(self.services.cached_facts, model)
        if cached is not None:
            self.post_message(FactsLoaded(model, cached, None, from_cache=True))
        if not self.refresh_from_hub and cached is not None:
            return
        async with self._fetch_slots:
            try:
                facts = await in_daemon_thread(self.services.load_facts, model)
                self.post_message(FactsLoaded(model, facts, None, from_cache=False))
            except SparkTuiError as exc:
                unreachable = isinstance(exc, HubUnavailableError)
                self.post_message(FactsLoaded(model, None, str(exc), from_cache=False, unreachable=unreachable))
            except Exception as exc:  # a bug or an unexpected failure: the row says so, the app goes on
                self.post_message(FactsLoaded(model, None, f"{type(exc).__name__}: {exc}", from_cache=False))

    @work(exclusive=True, group="search")
    async def run_search(self, query: str) -> None:
        try:
            hits = await in_daemon_thread(self.services.search, query)
            self.post_message(SearchFinished(query, hits, None))
        except SparkTuiError as exc:
            self.post_message(SearchFinished(query, [], str(exc)))

    # --- messages from the workers ---
    def on_hardware_probed(self, message: HardwareProbed) -> None:
        self.probed = message.hardware
        self.probe_done = True
        if self.hardware_choice == "auto" and message.hardware is not None:
            self.hardware = message.hardware
        self.recompute()  # free memory feeds the start-up check, so verdicts can move with it

    def on_facts_loaded(self, message: FactsLoaded) -> None:
        row = self.rows.get(message.model)
        if row is None:
            return
        if message.facts is not None:
            row.facts, row.error, row.stale = message.facts, None, message.from_cache
            row.loading = message.from_cache and self.refresh_from_hub
        elif row.facts is not None:
            row.loading, row.stale = False, True  # keep the cached answer; the Hub did not answer
        else:
            row.error, row.loading = message.error, False
        if message.unreachable:
            self.offline = True
        elif message.facts is not None and not message.from_cache:
            self.offline = False  # the Hub answered: the header must not keep saying OFFLINE
        self.advise_row(row)
        self.refresh_views()

    def on_search_finished(self, message: SearchFinished) -> None:
        if message.error:
            self.offline = True
            self.notify(message.error, title="Search", severity="warning")
        elif not message.hits:
            self.notify(f"No models match '{message.query}'.", title="Search")
        self.search_hits[message.query] = {hit.id for hit in message.hits}
        for hit in message.hits:
            row = self.rows.get(hit.id)
            if row is None:
                row = self.rows[hit.id] = ModelRow(hit.id, "search")
                self.load_model(hit.id)
            row.downloads, row.likes = hit.downloads, hit.likes
        self.refresh_views()

    def models_with_facts(self) -> int:
        """How many models the table can judge without the Hub (their metadata is at hand, cached or fetched)."""
        return sum(row.facts is not None for row in self.rows.values())

    def launch(self, plan: LaunchPlan, row: ModelRow) -> None:
        """Launch the plan the dialog confirmed (its host and port are the ones the engine is told)."""
        advice = row.advice
        from spark_tui.calibration import prediction  # what the plan expects, for calibration

        self._launch_worker(plan, row.id, prediction(advice, plan.argv) if advice else None)

    @work(thread=True, group="launch")
    def _launch_worker(self, plan: LaunchPlan, model: str, predicted: dict[str, Any] | None = None) -> None:
        try:
            runtime = self.services.resolve_runtime(plan.engine)
            record = self.services.supervisor.launch(plan, runtime=runtime, prediction=predicted)
        except SparkTuiError as exc:
            self.post_message(LaunchFailed(plan, model, str(exc)))
            return
        where = f" in {runtime.image}" if runtime.kind == "container" else ""
        self.post_message(Notice(f"Launched {record.name}{where} at {record.url}; it keeps running if you quit."))

    def on_launch_failed(self, message: LaunchFailed) -> None:
        """Back to the dialog with the command as it was edited, and why it failed."""
        from spark_tui.tui.screens.launch import open_launch_dialog

        row = self.rows.get(message.model)
        if row is None:
            self.notify(f"Not launched: {message.error}", severity="error")
            return
        open_launch_dialog(self, row, message.plan, error=message.error)

    # --- downloads and the local cache ---
    def download(self, model: str) -> None:
        job = self.downloads.start(model)
        self.notify(f"Downloading {model} (D shows the downloads)." if job.state == "planning" else
                    f"{model} is already downloading.")

    def _notify_from_thread(self, message: str, severity: str) -> None:
        # (The Downloads screen rescans the cache itself when a pull changes state, and on every opening.)
        if self.is_running:
            self.post_message(Notice(message, severity))  # post_message is thread-safe

    @work(thread=True, exclusive=True, group="cache")
    def scan_cache(self) -> None:
        try:
            listing = self.services.scan_cache(self.probed or self.hardware, self.services.rules.rules)
        except (SparkTuiError, OSError) as exc:
            self.post_message(Notice(f"Cannot read the model cache: {exc}", "error"))
            return
        self.post_message(CacheScanned(listing))

    def on_cache_scanned(self, message: CacheScanned) -> None:
        self.cache_listing = message.listing
        self.refresh_views(now=True)

    @work(thread=True, group="cache-delete")
    def delete_cached(self, revisions: list) -> None:
        try:
            freed = self.services.delete_cached(revisions)
        except (SparkTuiError, OSError) as exc:
            self.post_message(Notice(f"Not deleted: {exc}", "error"))
            return
        from spark_tui.units import human_bytes

        self.post_message(Notice(f"Deleted; {human_bytes(freed)} freed."))
        self.scan_cache()

    async def action_quit(self) -> None:
        """q (and Ctrl+C): quit. With downloads running it asks first; quitting keeps their partial data (the next
        pull resumes it) and never waits on the network (DownloadManager.stop_all). Ctrl+C on the question quits."""
        from spark_tui.tui.screens.confirm import QuitQuestion

        running = self.downloads.running()
        if not running or isinstance(self.screen, QuitQuestion):
            self.exit()
            return
        many = f"{len(running)} downloads are" if len(running) > 1 else "1 download is"
        names = ", ".join(job.model for job in running[:3]) + (" …" if len(running) > 3 else "")

        def answered(quit_now: bool | None) -> None:
            if quit_now:
                self.exit()

        await self.push_screen(QuitQuestion(
            f"{many} running ({names}). Quit? What arrived is kept: downloading the model again resumes it.",
            "y: keep partial data and quit · n / Esc: cancel (keep downloading)"), answered)

    def on_unmount(self) -> None:
        self.downloads.stop_all()  # partial files stay: the next pull resumes them
        self.services.close()

    def on_notice(self, message: Notice) -> None:
        self.notify(message.message, severity=message.severity)  # type: ignore[arg-type]

    # --- advice (pure, on the UI thread) ---
    def options_for(self, row: ModelRow) -> PlanOptions:
        engine = next((e for e in self.engines if e.name == self.engine), None)
        version = (engine.version or engine.newest_known) if engine else None
        source = "installed" if engine and engine.version else "assumed"
        layout: dict[str, Any] = {}
        if self.hardware.nodes > 1 and self.engine == "vllm" and row.facts is not None:
            from spark_tui.advisor.multinode import choose_layout, choose_mode, placeholder_nodes

            tp, pp, _ = choose_layout(row.facts, self.hardware.nodes, self.hardware.gpus, "auto")
            layout = {"tensor_parallel_size": tp, "pipeline_parallel_size": pp, "distributed": choose_mode(version),
                      "cluster": placeholder_nodes(self.hardware.nodes)}
        return PlanOptions(engine=self.engine, engine_version=version, engine_version_source=source,
                           max_model_len=row.max_model_len, gpu_memory_utilization=row.gpu_memory_utilization,
                           **layout)

    def advise_row(self, row: ModelRow) -> None:
        if row.facts is None:
            row.advice = None
            return
        versions = {e.name: e.version or e.newest_known or "" for e in self.engines}
        try:
            seen = tuple(o for o in self.observations if o.model == row.facts.id) if self.engine == "vllm" else ()
            row.advice = advise(row.facts, self.hardware, self.options_for(row), self.services.rules.rules,
                                engine_versions=versions, observations=seen)
        except SparkTuiError as exc:
            row.advice, row.error = None, str(exc)

    def recompute(self, now: bool = False) -> None:
        for row in self.rows.values():
            self.advise_row(row)
        self.refresh_views(now)

    def refresh_views(self, now: bool = False) -> None:
        """Redraw every screen from the state. What workers report is coalesced (at most ten redraws a second:
        a burst of metadata at start-up costs one, and keys typed meanwhile are not kept waiting); what the user
        just did (`now`) is drawn at once."""
        if now:
            self._refresh_now()
        elif self._refresh_timer is None:
            self._refresh_timer = self.set_timer(0.1, self._refresh_now)

    def _refresh_now(self) -> None:
        if self._refresh_timer is not None:
            self._refresh_timer.stop()
        self._refresh_timer = None
        if not self.screen_stack:  # quitting: a redraw queued just before has nothing left to draw
            return
        # Only the screen on top is drawn now; the ones below redraw when they come back (on_screen_resume).
        for screen in self.screen_stack:
            screen.stale = True  # type: ignore[attr-defined]
        self.redraw_if_stale(self.screen)

    def redraw_if_stale(self, screen: object) -> None:
        refresh = getattr(screen, "refresh_from_app", None)
        if refresh is not None and getattr(screen, "stale", True):
            screen.stale = False  # type: ignore[attr-defined]
            refresh()

    # --- actions shared by the screens ---
    def set_hardware(self, choice: str) -> None:
        self.hardware_choice = choice
        if choice == "auto":
            if self.probed is not None:
                self.hardware = self.probed
            else:
                self.hardware = from_profile(self.services.profiles[DEFAULT_PLANNING_PROFILE])
                if self.probe_done:
                    self.notify("No NVIDIA GPU here: planning for gb10.", title="Hardware")
        else:
            profile, _, count = choice.partition("*")  # "gb10*2": two of them, on vLLM's multi-node engine
            self.hardware = replace(from_profile(self.services.profiles[profile]), nodes=int(count or 1))
        self.recompute(now=True)

    def set_engine(self, engine: str) -> None:
        self.engine = engine
        self.recompute(now=True)

    def set_row_options(self, row: ModelRow, max_model_len: int | None, utilization: float | None) -> None:
        row.max_model_len, row.gpu_memory_utilization = max_model_len, utilization
        self.advise_row(row)
        self.refresh_views(now=True)

