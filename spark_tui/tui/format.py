"""Small formatting helpers shared by the screens (Rich Text, no markup parsing of model data)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.style import Style
from rich.text import Text

from spark_tui.rules.model import Reference
from spark_tui.tui.model_state import ModelRow

GIB = 1024**3
VERDICT_STYLE = {"ok": "bold green", "caution": "bold yellow", "incompatible": "bold red", "unknown": "bold magenta"}
SEVERITY_STYLE = {"error": "bold red", "warning": "bold yellow", "info": "cyan"}
QUANT_FILTERS = ("all", "NVFP4", "MXFP4", "AWQ", "GPTQ", "FP8", "BF16", "GGUF")


def gib(value: int | None) -> str:
    return "—" if value is None else f"{value / GIB:.1f} GiB"


def billions(value: int | None) -> str:
    return "—" if value is None else f"{value / 1e9:.1f}B"


def count(value: int | None) -> str:
    if value is None:
        return "—"
    if value >= 1_000_000:
        return f"{value / 1e6:.1f}M"
    if value >= 1_000:
        return f"{value / 1e3:.1f}k"
    return str(value)


def quant_label(row: ModelRow) -> str:
    if row.facts is None:
        return "—"
    q = row.facts.quantization
    if q.method in (None, "none"):
        return (q.scheme or "?").upper()
    label = {"nvfp4": "NVFP4", "nvfp4a16": "NVFP4-W4A16", "mxfp4": "MXFP4", "mixed": "mixed"}.get(q.scheme or "")
    if q.method in ("awq", "gptq"):
        return q.method.upper()
    if q.method == "gguf":  # the planned variant's quant type: GGUF Q4_K_M, GGUF MXFP4
        return f"GGUF {q.scheme.upper()}" if q.scheme else "GGUF"
    if label:
        return label
    return (q.scheme or q.method or "?").upper()


def quant_matches(row: ModelRow, wanted: str) -> bool:
    if wanted == "all":
        return True
    if row.facts is None:
        return False
    q = row.facts.quantization
    schemes = {q.scheme or "", *q.group_schemes}
    return {
        "NVFP4": bool(schemes & {"nvfp4", "nvfp4a16"}),
        "MXFP4": "mxfp4" in schemes,
        "AWQ": q.method == "awq",
        "GPTQ": q.method == "gptq",
        "FP8": any(s.startswith("fp8") for s in schemes),
        "BF16": q.method == "none",
        "GGUF": q.method == "gguf",
    }[wanted]


def verdict_cell(row: ModelRow) -> Text:
    if row.advice is not None:
        verdict = row.advice.verdict
        return Text(verdict.upper(), style=VERDICT_STYLE[verdict])
    if row.error:
        short = "gated" if "gated" in row.error else ("not found" if "No model" in row.error else "error")
        return Text(f"⚠ {short}", style="bold red")
    return Text("…" if row.loading else "—", style="dim")


def model_cells(row: ModelRow) -> tuple:
    facts, advice = row.facts, row.advice
    moe = "—"
    if facts is not None and facts.moe is not None:
        moe = f"{facts.num_experts}×{facts.experts_per_token}" if facts.moe else "dense"
    params = "—"
    if facts is not None and facts.params_total:
        params = billions(facts.params_total)
        if facts.moe and facts.params_active:
            params += f"/{billions(facts.params_active)}"
    max_len = "—"
    speed = "—"
    if advice is not None and advice.memory is not None and advice.memory.max_model_len:
        max_len = f"{advice.memory.max_model_len:,}"
    if advice is not None and advice.performance.decode_tokens_per_s_bound is not None:
        speed = f"{advice.performance.decode_tokens_per_s_bound:.0f}"
    downloads = row.downloads if row.downloads is not None else (facts.downloads if facts else None)
    likes = row.likes if row.likes is not None else (facts.likes if facts else None)
    popularity = "—" if downloads is None and likes is None else f"{count(downloads)}/{count(likes)}"
    return (row.id, verdict_cell(row), gib(facts.weights_bytes) if facts else "—", params, quant_label(row), moe,
            max_len, speed, popularity)


def issue_text(severity: str, title: str, tag: str, detail: str, fix: str, fixed_in: str | None,
               references: Iterable[Reference]) -> Text:
    """One known issue (a finding or a rule): severity, title, why, fix, references as OSC 8 links with the URL."""
    text = Text(overflow="fold")
    text.append(f"{severity.upper()} ", style=SEVERITY_STYLE[severity])
    text.append(title, style="bold")
    text.append(f"  [{tag}]\n", style="dim")
    text.append(" ".join(detail.split()) + "\n")
    text.append("Fix: ", style="bold")
    text.append(" ".join(fix.split()) + "\n")
    if fixed_in:
        text.append(f"Fixed in: {fixed_in}\n", style="green")
    for ref in references:
        text.append("→ ")
        text.append(ref.label, style=Style(link=ref.url, underline=True))  # OSC 8 where the terminal can
        said = ref.state and f"({ref.state}" in ref.label  # "(closed, not merged)" is not followed by "(closed)"
        text.append(f"{' (' + ref.state + ')' if ref.state and not said else ''}\n  {ref.url}\n", style="dim")
    return text
