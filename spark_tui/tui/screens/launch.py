"""Confirm a launch: the exact command and environment, editable before it runs. An edited command is read back
into the plan by the engine's adapter (the same reading of --host and --port the engine makes), so the plan that is
launched, recorded and health-checked is the one the engine receives."""

from __future__ import annotations

import shlex
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from spark_tui.advisor.types import LaunchPlan
from spark_tui.errors import UsageError


class LaunchScreen(ModalScreen[LaunchPlan | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, plan: LaunchPlan, warning: str | None = None) -> None:
        super().__init__()
        self.plan = plan
        self.warning = warning  # e.g. memory nearly full before launch

    def compose(self) -> ComposeResult:
        with Vertical(id="launch-dialog"):
            yield Label("Launch this server? Enter runs it (detached), Esc cancels. Edit the command if you like.")
            env = " ".join(f"{k}={v}" for k, v in self.plan.env.items())
            yield Static(Text(f"environment: {env}" if env else "environment: (nothing added)", style="dim"))
            for note in self.plan.notes:  # among them: which rule added which setting
                yield Static(Text(f"({note})", style="dim"))
            if self.warning:
                yield Static(Text(f"⚠ {self.warning}", style="bold yellow"), id="launch-warning")
            yield Input(shlex.join(self.plan.argv), id="launch-command")
            yield Static(id="launch-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        from spark_tui.engines.adapters import adapter_for

        try:
            plan = adapter_for(self.plan.engine).read_command(self.plan, event.value)
        except UsageError as exc:
            self.query_one("#launch-error", Static).update(Text(str(exc), style="red"))
            return
        self.dismiss(plan)

    def action_cancel(self) -> None:
        self.dismiss(None)
