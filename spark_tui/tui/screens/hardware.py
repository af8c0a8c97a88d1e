"""Pick what to plan for: this machine (probed) or a hardware profile."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from spark_tui.tui.app import SparkTuiApp


class HardwareScreen(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        spark: SparkTuiApp = self.app  # type: ignore[assignment]
        probed = spark.probed
        this = f"this machine ({probed.gpu_name})" if probed else "this machine (no NVIDIA GPU: gb10)"
        options = [Option(this, id="auto")]
        for profile in spark.services.profiles.values():
            gib = profile.memory_bytes / 1024**3
            options.append(Option(f"{profile.id:13} {profile.title} · {gib:.0f} GiB · CC {profile.compute_capability}",
                                  id=profile.id))
            if profile.interconnect_gbps:  # machines people join (Sparks over CX-7): vLLM's multi-node engine
                for count in (2, 3):
                    options.append(Option(f"{profile.id + f' ×{count}':13} {count} joined over "
                                          f"{profile.interconnect_gbps:g} GB/s (vLLM multi-node)",
                                          id=f"{profile.id}*{count}"))
        with Vertical(id="hardware-dialog"):
            yield Label("Plan for which hardware? (Enter picks, Esc cancels)")
            yield OptionList(*options, id="hardware-list")

    def on_mount(self) -> None:
        options = self.query_one("#hardware-list", OptionList)
        try:
            options.highlighted = options.get_option_index(self.current)
        except Exception:  # an unknown id: leave the first highlighted
            options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
