"""Confirm a launch: the verdict, the exact command (shown whole, wrapped) and environment, editable before it runs.

An edited command is read back into the plan by the engine's adapter (the same reading of --host and --port the
engine makes), so the plan that is launched, recorded and health-checked is the one the engine receives. A port
that is taken is said before Enter; an incompatible model needs a second Enter; a launch that fails comes back
here with the edit intact (the app reopens the dialog with the plan and the reason)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from spark_tui.advisor.types import LaunchPlan
from spark_tui.errors import UsageError

if TYPE_CHECKING:
    from spark_tui.tui.app import SparkTuiApp
    from spark_tui.tui.model_state import ModelRow


@dataclass(frozen=True)
class LaunchContext:
    """What the dialog says around the command."""

    verdict: str = "ok"
    blocking: str | None = None  # the first error finding's title, for an incompatible model
    warning: str | None = None  # e.g. memory nearly full before launch
    runs_with: str | None = None  # which executable or image will run it
    missing: str | None = None  # why there is nothing to run this engine here (no executable, no image, no docker)
    error: str | None = None  # why the last launch of this plan failed
    note: str | None = None  # e.g. "port 8000 is in use: proposing 8001"


class LaunchScreen(ModalScreen[LaunchPlan | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, plan: LaunchPlan, context: LaunchContext | None = None,
                 port_is_free: Callable[[str, int], bool] = lambda host, port: True) -> None:
        super().__init__()
        self.plan = plan
        self.context = context or LaunchContext()
        self.port_is_free = port_is_free
        self.armed = False  # an incompatible model: the first Enter only asks again

    def compose(self) -> ComposeResult:
        c = self.context
        with Vertical(id="launch-dialog"):
            yield Static("Launch this server? Enter runs it (detached), Esc cancels. Edit the command if you like.")
            if c.verdict == "incompatible":
                text = Text("INCOMPATIBLE here", style="bold red")
                text.append(f": {c.blocking}" if c.blocking else "", style="red")
                text.append("\nIt will most likely fail; Enter twice launches it anyway.", style="red")
                yield Static(text, id="launch-verdict")
            if c.runs_with:
                yield Static(Text(f"runs: {c.runs_with}", style="dim"), id="launch-runs")
            elif c.missing:  # said before Enter, not after a failed launch
                yield Static(Text(f"⚠ {c.missing}", style="bold yellow"), id="launch-runs")
            env = " ".join(f"{k}={v}" for k, v in self.plan.env.items())
            yield Static(Text(f"environment: {env}" if env else "environment: (nothing added)", style="dim"))
            for note in self.plan.notes:  # among them: which rule added which setting
                yield Static(Text(f"({note})", style="dim"))
            for file_name, content in self.plan.files.items():  # e.g. trtllm-serve's LLM-API options
                yield Static(Text(f"writes {file_name} in the server's folder: {content.strip()}", style="dim"))
            if c.warning:
                yield Static(Text(f"⚠ {c.warning}", style="bold yellow"), id="launch-warning")
            if c.note:
                yield Static(Text(c.note, style="yellow"), id="launch-note")
            yield Static(Text(self.plan.command_line(), overflow="fold"), id="launch-preview")
            yield Input(_command(self.plan), id="launch-command")
            yield Static(Text(f"Not launched: {c.error}", style="red") if c.error else "", id="launch-error")

    def on_input_changed(self, event: Input.Changed) -> None:
        env = "".join(f"{k}={v} " for k, v in self.plan.env.items())
        self.query_one("#launch-preview", Static).update(Text(env + event.value, overflow="fold"))
        self.armed = False

    def on_input_submitted(self, event: Input.Submitted) -> None:
        from spark_tui.engines.adapters import adapter_for

        error = self.query_one("#launch-error", Static)
        try:
            plan = adapter_for(self.plan.engine).read_command(self.plan, event.value)
        except UsageError as exc:
            error.update(Text(str(exc), style="red"))
            return
        if not self.port_is_free(plan.host, plan.port):
            error.update(Text(f"Port {plan.port} on {plan.host} is in use: pick another in the command.", style="red"))
            return
        if self.context.verdict == "incompatible" and not self.armed:
            self.armed = True
            error.update(Text("This model is incompatible here. Press Enter again to launch it anyway, Esc to "
                              "cancel.", style="bold red"))
            return
        self.dismiss(plan)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _command(plan: LaunchPlan) -> str:
    import shlex

    return shlex.join(plan.argv)


def open_launch_dialog(app: SparkTuiApp, row: ModelRow, plan: LaunchPlan, error: str | None = None) -> None:
    """The dialog for `row`'s plan (or the plan a failed launch was given, with why it failed); on Enter the app
    launches it and shows the Servers screen."""
    from spark_tui.engines.adapters import adapter_for
    from spark_tui.hardware.pressure import memory_pressure
    from spark_tui.tui.screens.servers import ServersScreen

    services, advice = app.services, row.advice
    note = None
    if error is None and not services.port_is_free(plan.host, plan.port):  # a fresh plan: propose a free port
        try:
            free = services.next_free_port(plan.host, plan.port + 1)
        except UsageError:
            free = None
        if free is not None:
            note = f"Port {plan.port} is in use here: proposing {free}."
            plan = adapter_for(plan.engine).with_port(plan, free)
    blocking = next((f.title for f in advice.findings if f.severity == "error"), None) if advice else None
    here = app.probed  # the launch happens on this machine, whatever profile the plan is for
    context = LaunchContext(verdict=advice.verdict if advice else "unknown", blocking=blocking,
                            warning=memory_pressure(here) if here is not None else None,
                            runs_with=app.runtime_labels.get(plan.engine), missing=app.runtime_missing.get(plan.engine),
                            error=error, note=note)

    def confirmed(chosen: LaunchPlan | None) -> None:
        if chosen is None:
            return
        app.launch(chosen, row)
        if not isinstance(app.screen, ServersScreen):
            app.push_screen(ServersScreen())

    app.push_screen(LaunchScreen(plan, context, services.port_is_free), confirmed)
