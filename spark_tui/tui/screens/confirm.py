"""A yes/no question before something that cannot be undone."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, keys: str = "y: yes · n / Esc: no") -> None:
        super().__init__()
        self.question = question
        self.keys = keys

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Label(self.question)
            yield Label(self.keys, classes="dim")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class QuitQuestion(ConfirmScreen):
    """Quit with downloads running? (Ctrl+C while it is asked quits.)"""
