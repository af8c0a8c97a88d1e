"""ModelFacts: everything the advisor knows about a checkpoint, as plain frozen data.

Built by `build_model_facts` from the raw metadata (the Hub's model API answer, config.json,
hf_quant_config.json) whichever way it was obtained: network, cache, or a local directory.
A fact that could not be determined is None, never a guess. Every raw value is read through
`config_values.Fields`: a value that is absurd or of the wrong type becomes a problem naming the field
(`ModelFacts.problems`), and the advisor's verdict is then "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spark_tui.hub import arch, params, quant, weights
from spark_tui.hub.config_values import MAX_FILE_BYTES, MAX_VOCAB, MAX_WIDTH, Fields
from spark_tui.hub.gguf import GGUFVariant
from spark_tui.hub.quant import QuantInfo

MAX_FILES = 200_000  # files in one repo listing: the largest model repos hold tens of thousands
MAX_COUNT = 10**15  # parameter totals, downloads, likes: far above any real figure


@dataclass(frozen=True)
class ModelFacts:
    """What the advisor knows about a checkpoint, read from its config and file list."""

    id: str
    revision: str | None
    source: str  # "hub" or "local"
    architecture: str | None
    model_type: str | None  # of the text model (inside text_config for multimodal models)
    multimodal: bool
    params_total: int | None
    params_active: int | None
    moe: bool | None
    num_experts: int | None
    experts_per_token: int | None
    moe_gated: bool | None  # SwiGLU-style gated experts; False for e.g. Nemotron-H relu²
    moe_activation: str | None
    num_layers: int | None
    attention: arch.AttentionLayout | None
    hidden_size: int | None
    intermediate_size: int | None  # dense MLP width
    moe_intermediate_size: int | None  # one expert's width
    vocab_size: int | None
    max_context: int | None
    torch_dtype: str | None
    weights_bytes: int | None
    weight_format: str | None  # the format the weights figure counts: safetensors, bin, gguf
    formats: tuple[str, ...]
    gguf_files: tuple[tuple[str, int], ...]
    quantization: QuantInfo
    trust_remote_code: bool
    gated: str | None  # None, "auto" or "manual"
    private: bool | None
    license: str | None
    downloads: int | None
    likes: int | None
    tags: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    problems: tuple[str, ...] = ()  # absurd or wrong-typed values, each naming its field: the verdict is unknown
    gguf_variants: tuple[GGUFVariant, ...] = ()  # every GGUF variant listed (hub/gguf.py), for GGUF repos
    gguf_choice: str | None = None  # the variant planned for (its first file), whose header gave the facts
    gguf_asked: bool = False  # the variant was picked by the user (--quant, --gguf-file, a .gguf path)

    @property
    def kv_heads(self) -> int | None:
        return self.attention.num_kv_heads if self.attention else None


def _listed_files(api: Fields) -> list[tuple[str, int | None]]:
    """(path, size) of each file in the model info's listing; a size that is not a byte count reads as unknown."""
    files: list[tuple[str, int | None]] = []
    for entry in api.objects("siblings", max_len=MAX_FILES) or []:
        name = entry.text("rfilename", max_len=1000)
        if name is None:
            if not entry.present("rfilename"):
                entry.problem(f"{entry.path}rfilename is missing")
            continue
        files.append((name, entry.integer("size", low=0, high=MAX_FILE_BYTES)))
    return files


def build_model_facts(
    model_id: str,
    *,
    source: str,
    revision: str | None,
    api: Any,
    config: Any,
    hf_quant_config: Any,
    files: list[tuple[str, int | None]] | None = None,
) -> ModelFacts:
    """Derive facts from raw metadata. `files` (path, size) overrides the API's sibling list."""
    problems: list[str] = []
    notes: list[str] = []
    info = Fields.top(api, "the Hub's model info", problems)
    # Shown, never judged on: a wrong type here is dropped quietly (its problems go to a list nobody reads).
    shown = Fields(api, "the Hub's model info", [])
    if files is None:
        files = _listed_files(info)
    cfg = Fields.top(config, "config.json", problems)
    hf_quant = Fields.top(hf_quant_config, "hf_quant_config.json", problems) if hf_quant_config is not None else None
    if config is None:
        notes.append("config.json is missing: architecture, context and KV-cache facts are unknown")
    text = arch.text_config(cfg)
    layout = arch.attention_layout(text) if config is not None else None
    moe = arch.moe_info(text) if config is not None else None
    w = weights.summarise(files)
    q = quant.detect(cfg, hf_quant, w.formats)
    counted = params.count(text, layout, moe) if config is not None else None
    params_total = counted.total if counted else None
    params_active = counted.active if counted else None
    safetensors = shown.sub("safetensors")
    safetensors_total = safetensors.integer("total", high=MAX_COUNT) if safetensors else None
    if params_total is None and safetensors_total and q.method in (None, "none"):
        # Unquantized checkpoints: the Hub's safetensors element count is the parameter count.
        params_total = safetensors_total
        params_active = params_total if moe is not None and not moe.is_moe else None
    if counted is None and config is not None:
        notes.append("parameter count: this architecture's layout is not modelled")
    card = shown.sub("cardData")
    architectures = cfg.texts("architectures", max_len=64) or []
    is_moe = bool(moe and moe.is_moe)
    auto_map = cfg.sub("auto_map")
    return ModelFacts(
        id=model_id,
        revision=revision,
        source=source,
        architecture=architectures[0] if architectures else None,
        model_type=text.text("model_type") or cfg.text("model_type"),
        multimodal=arch.is_multimodal(cfg),
        params_total=params_total,
        params_active=params_active,
        moe=moe.is_moe if moe else None,
        num_experts=moe.num_experts if moe else None,
        experts_per_token=moe.experts_per_token if moe else None,
        moe_gated=moe.gated if moe and is_moe else None,
        moe_activation=moe.activation if moe and is_moe else None,
        num_layers=layout.num_layers if layout else None,
        attention=layout,
        hidden_size=text.integer("hidden_size", high=MAX_WIDTH),
        intermediate_size=text.width("intermediate_size_mlp", "intermediate_size"),
        moe_intermediate_size=text.width("moe_intermediate_size", "intermediate_size") if is_moe else None,
        vocab_size=text.integer("vocab_size", high=MAX_VOCAB) or cfg.integer("vocab_size", high=MAX_VOCAB),
        max_context=arch.max_context(text, cfg),
        torch_dtype=text.text("torch_dtype") or text.text("dtype") or cfg.text("torch_dtype") or cfg.text("dtype"),
        weights_bytes=w.weights_bytes,
        weight_format=w.weight_format,
        formats=w.formats,
        gguf_files=w.gguf_files,
        quantization=q,
        # auto_map names the repo's own Python classes; one of the wrong type still means remote code.
        trust_remote_code=bool(auto_map) or (auto_map is None and cfg.present("auto_map")),
        gated=shown.text("gated") or None,
        private=shown.flag("private"),
        license=card.text("license") if card else None,
        downloads=shown.integer("downloads", low=0, high=MAX_COUNT),
        likes=shown.integer("likes", low=0, high=MAX_COUNT),
        tags=tuple(shown.texts("tags", max_len=10_000) or ()),
        notes=tuple(notes + w.notes),
        problems=tuple(problems),  # last: each read above may have added one
    )
