"""`?`: every key of the screen underneath (shown in the footer or not), and what it does."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


def key_table(app_keys: list[tuple[str, str]], screen_keys: list[tuple[str, str]], title: str) -> Text:
    width = max((len(k) for k, _ in screen_keys + app_keys), default=1)
    text = Text(f"{title}\n\n", style="bold")
    for key, description in screen_keys + app_keys:
        text.append(key.ljust(width + 2), style="bold")
        text.append(f"{description}\n")
    return text


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        seen: set[tuple[str, str]] = set()
        screen_keys: list[tuple[str, str]] = []
        app_keys: list[tuple[str, str]] = []
        for key, active in self.under.active_bindings.items():
            binding = active.binding
            if not binding.description or (binding.action, binding.description) in seen:
                continue
            seen.add((binding.action, binding.description))
            keys = ", ".join(self.app.get_key_display(Binding(k, binding.action)) for k in _keys_of(
                self.under, binding.action, key))
            (app_keys if active.node is self.app else screen_keys).append((keys, binding.description))
        title = type(self.under).__name__.removesuffix("Screen") or "App"
        with VerticalScroll(id="help-dialog"):
            yield Static(key_table(app_keys, screen_keys, f"Keys: {title} (Esc closes)"), id="help-keys")

    def action_close(self) -> None:
        self.dismiss(None)


def _keys_of(screen: Screen, action: str, first: str) -> list[str]:
    """Every key bound to `action` on this screen (e.g. g and Home), the first one seen first."""
    keys = [k for k, a in screen.active_bindings.items() if a.binding.action == action]
    return [first, *[k for k in keys if k != first]]
