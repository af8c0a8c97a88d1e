"""The full advice for one model: verdict per engine, findings with references, a memory bar for the chosen
--max-model-len and --gpu-memory-utilization (editable in place), the decode bound, the launch command
(copyable through OSC 52, which works over SSH), and the model's facts."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static

from spark_tui.advisor.types import Advice
from spark_tui.tui.format import VERDICT_STYLE, billions, gib, issue_text
from spark_tui.tui.model_state import ModelRow
from spark_tui.tui.widgets.memory_bar import memory_bar

if TYPE_CHECKING:
    from spark_tui.tui.app import SparkTuiApp


class ModelScreen(Screen[None]):
    AUTO_FOCUS = "#detail"  # focused when the screen opens, before any key is handled
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("c", "copy", "Copy command"),
        Binding("e", "cycle_engine", "Engine", show=False),
        Binding("l", "focus_len", "max-model-len"),
        Binding("u", "focus_util", "utilization", show=False),
        Binding("L", "launch", "Launch"),
        Binding("d", "download", "Download"),
    ]

    def __init__(self, model: str) -> None:
        super().__init__()
        self.ready = False  # set once mounted; the app may call refresh_from_app before that
        self.model = model
        # The knobs' last values that were valid: an invalid entry puts the plan back to these (never a value typed
        # on the way to it, such as 13107 on the way to 131072), and copy/launch wait until it is fixed.
        self.committed: tuple[int | None, float | None] = (None, None)
        self.knob_problem: str | None = None

    @property
    def spark(self) -> SparkTuiApp:
        return self.app  # type: ignore[return-value]

    @property
    def row(self) -> ModelRow:
        return self.spark.rows[self.model]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail"):
            yield Static(id="title")
            with Horizontal(id="knobs"):
                yield Label("max-model-len ", id="len-label")
                yield Input(id="max-len", type="integer", placeholder="auto")
                yield Label(" gpu-memory-utilization ", id="util-label")
                yield Input(id="util", type="number", placeholder="auto")
            yield Static(id="knob-error")
            yield Static(id="memory")
            yield Static(id="launch")
            yield Static(id="findings")
            yield Static(id="facts")
        yield Footer()

    def on_mount(self) -> None:
        self.ready = True
        row = self.row
        self.committed = (row.max_model_len, row.gpu_memory_utilization)
        if row.max_model_len:
            self.query_one("#max-len", Input).value = str(row.max_model_len)
        if row.gpu_memory_utilization:
            self.query_one("#util", Input).value = f"{row.gpu_memory_utilization:g}"
        self.refresh_from_app()

    def on_screen_resume(self) -> None:
        self.spark.redraw_if_stale(self)

    def refresh_from_app(self) -> None:
        if not self.ready:
            return
        row, advice = self.row, self.row.advice
        length, share = KNOB_NAMES.get(self.spark.engine, KNOB_NAMES["vllm"])  # the engine's own option names
        self.query_one("#len-label", Label).update(f"{length} ")
        self.query_one("#util-label", Label).update(f" {share} ")
        self.query_one("#title", Static).update(title_text(row, advice, self.spark.hardware.name))
        if advice is None:
            for part in ("#memory", "#launch", "#findings", "#facts"):
                self.query_one(part, Static).update("")
            return
        self.query_one("#memory", Static).update(memory_text(advice))
        self.query_one("#launch", Static).update(launch_text(advice))
        self.query_one("#findings", Static).update(findings_text(advice))
        self.query_one("#facts", Static).update(facts_text(advice))

    # --- editing the plan in place ---
    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.apply_knobs():
            self.committed = (self.row.max_model_len, self.row.gpu_memory_utilization)
            self.query_one("#detail").focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.apply_knobs()

    def apply_knobs(self) -> bool:
        """Plan with the knobs' values when they are valid (the plan follows every edit); otherwise say why, and
        plan with the last valid values instead. Returns whether the values are valid."""
        error = self.query_one("#knob-error", Static)
        length_text = self.query_one("#max-len", Input).value.strip()
        util_text = self.query_one("#util", Input).value.strip()
        facts = self.row.facts
        problem = None
        length = util = None
        try:
            length = int(length_text) if length_text else None
            util = float(util_text) if util_text else None
        except ValueError:
            problem = "Enter whole tokens and a fraction such as 0.85."
        if problem is None and length is not None and (
                length < 1 or (facts and facts.max_context and length > facts.max_context)):
            limit = f"{facts.max_context:,}" if facts and facts.max_context else "?"
            problem = f"max-model-len must be between 1 and {limit} for this model."
        elif problem is None and util is not None and not 0.05 <= util <= 1.0:
            problem = "gpu-memory-utilization must be between 0.05 and 1.0."
        self.knob_problem = problem
        if problem:
            error.update(Text(f"{problem} The plan keeps the last valid values until it is fixed.", style="red"))
            if (self.row.max_model_len, self.row.gpu_memory_utilization) != self.committed:
                self.spark.set_row_options(self.row, *self.committed)
            return False
        error.update("")
        self.spark.set_row_options(self.row, length, util)
        return True

    def _refuse_while_invalid(self) -> bool:
        if self.knob_problem:
            self.notify(f"{self.knob_problem} Fix it (or clear the field) first.", severity="error")
            return True
        return False

    # --- actions ---
    def action_back(self) -> None:
        if isinstance(self.focused, Input):  # Esc in a field leaves the field, as it closes any panel
            self.query_one("#detail").focus()
            return
        self.app.pop_screen()

    def action_copy(self) -> None:
        if self._refuse_while_invalid():
            return
        advice = self.row.advice
        if advice is None or advice.launch is None:
            self.notify("Nothing to copy yet.", severity="warning")
            return
        self.app.copy_to_clipboard(advice.launch.script())
        self.notify("Launch command copied (OSC 52: works over SSH in most terminals).", title="Copied")

    def action_launch(self) -> None:
        from spark_tui.tui.screens.launch import open_launch_dialog

        if self._refuse_while_invalid():
            return
        advice = self.row.advice
        if advice is None or advice.launch is None:
            self.notify("There is no launch plan yet.", severity="warning")
            return
        if advice.launch.nodes:
            self.notify("A plan across nodes is not launched from here yet: c copies every node's command, in the "
                        "order to run them.", severity="warning")
            return
        open_launch_dialog(self.spark, self.row, advice.launch)

    def action_download(self) -> None:
        if self.row.facts is not None and self.row.facts.source == "local":
            self.notify("This model is a local directory already.", severity="warning")
            return
        self.spark.download(self.row.id)

    def action_cycle_engine(self) -> None:
        from spark_tui.advisor.types import ENGINES

        self.spark.set_engine(ENGINES[(ENGINES.index(self.spark.engine) + 1) % len(ENGINES)])

    def action_focus_len(self) -> None:
        self.query_one("#max-len", Input).focus()

    def action_focus_util(self) -> None:
        self.query_one("#util", Input).focus()


def _n(value: int | None) -> str:
    return "—" if not value else f"{value:,}"


def title_text(row: ModelRow, advice: Advice | None, hardware: str) -> Text:
    text = Text(overflow="fold")
    text.append(row.id, style="bold")
    text.append(f"  on {hardware}\n")
    if advice is None:
        text.append(row.error or ("loading metadata…" if row.loading else "no metadata"),
                    style="red" if row.error else "dim")
        return text
    text.append("Verdict: ")
    text.append(advice.verdict.upper(), style=VERDICT_STYLE[advice.verdict])
    text.append(f" with {advice.engine} {advice.engine_version or '?'}"
                f"{' (assumed)' if advice.engine_version_source == 'assumed' else ''}   ")
    for engine in advice.engines:
        if engine.engine != advice.engine:
            text.append(f"{engine.engine} ")
            text.append(engine.verdict, style=VERDICT_STYLE[engine.verdict])
            text.append("  ")
    # Why, on the first screen, before the memory bar: the finding that decides the verdict.
    deciding = {"incompatible": "error", "caution": "warning"}.get(advice.verdict)
    reason = next((f for f in advice.findings if f.severity == deciding), None) if deciding else None
    if reason is not None:
        text.append("\nwhy: ", style="bold")
        text.append(reason.title, style=VERDICT_STYLE[advice.verdict])
    for unknown in advice.unknowns:
        text.append(f"\nunknown: {unknown}", style="magenta")
    return text


# What the two knobs are called by each engine: the context (vLLM --max-model-len, llama-server -c, trtllm-serve
# --max_seq_len) and the share of memory planned for it (vLLM's --gpu-memory-utilization; llama.cpp and TRT-LLM
# are planned within the same share of the GPU's memory).
KNOB_NAMES = {"vllm": ("max-model-len", "gpu-memory-utilization"), "llamacpp": ("context (-c)", "memory share"),
              "trtllm": ("max_seq_len", "memory share")}


def memory_text(advice: Advice) -> Text:
    text = Text()
    plan = advice.memory
    if plan is None:
        text.append("Memory: unknown (no weights size or no GPU memory figure)\n", style="magenta")
    else:
        text.append("Memory per GPU ", style="bold")
        text.append(f"(budget {gib(plan.budget_bytes)} = {plan.gpu_memory_utilization:g} × {gib(plan.total_bytes)},"
                    f" {plan.utilization_source})\n")
        text.append_text(memory_bar(plan, width=56))
        tokens = f"{plan.kv_cache_tokens:,}" if plan.kv_cache_tokens is not None else "?"
        fits = {True: ("fits", "green"), False: ("does not fit", "bold red"), None: ("fit unknown", "magenta")}
        label, style = fits[plan.fits]
        text.append(f"\nKV cache {tokens} tokens · max-model-len {_n(plan.max_model_len)} "
                    f"({plan.max_model_len_source}; up to {_n(plan.max_model_len_fit)} fits): ")
        text.append(label, style=style)
        if plan.kv_cache_tokens and plan.max_model_len:
            text.append(f" · room for {plan.kv_cache_tokens / plan.max_model_len:.1f} requests of that length")
        text.append("\n")
        if advice.nodes_needed:  # what one machine cannot hold, several joined over their network can
            text.append(f"Fits on {advice.nodes_needed} × {advice.hardware.name} with vLLM's multi-node engine "
                        f"(h: {advice.hardware.name} ×{advice.nodes_needed})\n", style="bold yellow")
    bound = advice.performance.decode_tokens_per_s_bound
    if bound is not None:
        text.append(f"Decode ≤ {bound:.0f} tok/s, one stream at {advice.performance.at_context_tokens} tokens "
                    f"(bandwidth ÷ {gib(advice.performance.bytes_per_token)} per token)\n")
    return text


def launch_text(advice: Advice) -> Text:
    text = Text()
    if advice.launch is None:
        return text
    text.append("Launch (c copies it)\n", style="bold")
    text.append(advice.launch.script(), style="cyan")
    for note in advice.launch.notes:
        text.append(f"\n({note})", style="dim")
    text.append("\n")
    return text


def findings_text(advice: Advice) -> Text:
    text = Text(overflow="fold")
    if not advice.findings:
        text.append("No known issue applies.\n", style="green")
        return text
    text.append("Findings\n", style="bold")
    for f in advice.findings:
        text.append_text(issue_text(f.severity, f.title, f.rule, f.detail, f.fix, f.fixed_in, f.references))
        text.append("\n")
    return text


def facts_text(advice: Advice) -> Text:
    m = advice.model
    q = m.quantization
    layout = m.attention
    lines = [
        ("architecture", f"{m.architecture or '?'} ({m.model_type or '?'})" + (" multimodal" if m.multimodal else "")),
        ("parameters", billions(m.params_total) + (f", {billions(m.params_active)} active" if m.moe else "")),
        ("MoE", f"{m.num_experts} experts, {m.experts_per_token} per token, "
                f"{'gated' if m.moe_gated else 'non-gated' if m.moe_gated is False else '?'} ({m.moe_activation})"
         if m.moe else "no"),
        ("layers", f"{m.num_layers} ({layout.full_layers} full attention, {layout.sliding_layers} sliding, "
                   f"{layout.mamba_layers} recurrent)" if layout else "?"),
        ("attention", f"{layout.kind.upper()}, {layout.num_kv_heads} KV heads × {layout.head_dim}"
         if layout else "?"),
        ("context", f"{m.max_context:,}" if m.max_context else "?"),
        ("quantization", f"{q.method or '?'} / {q.scheme or '?'}"
                         + (f" ({', '.join(q.group_schemes)})" if q.group_schemes else "")
                         + (f", by {q.producer}" if q.producer else "")
                         + (f", KV {q.kv_cache_dtype}" if q.kv_cache_dtype else "")),
        ("weights", f"{gib(m.weights_bytes)} {m.weight_format or ''} (formats: {', '.join(m.formats) or 'none'})"),
        ("access", f"{'gated (' + m.gated + ')' if m.gated else 'open'}; licence {m.license or '?'}"
                   + ("; custom code (auto_map)" if m.trust_remote_code else "")),
        ("revision", m.revision or "local"),
    ]
    text = Text("Facts\n", style="bold")
    for key, value in lines:
        text.append(f"{key:>13}  ", style="dim")
        text.append(f"{value}\n")
    return text
