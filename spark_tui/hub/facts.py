"""ModelFacts: everything the advisor knows about a checkpoint, as plain frozen data.

Built by `build_model_facts` from the raw metadata (the Hub's model API answer, config.json,
hf_quant_config.json) whichever way it was obtained: network, cache, or a local directory.
A fact that could not be determined is None, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spark_tui.hub import arch, params, quant, weights
from spark_tui.hub.quant import QuantInfo


@dataclass(frozen=True)
class ModelFacts:
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

    @property
    def kv_heads(self) -> int | None:
        return self.attention.num_kv_heads if self.attention else None


def build_model_facts(
    model_id: str,
    *,
    source: str,
    revision: str | None,
    api: dict[str, Any] | None,
    config: dict[str, Any] | None,
    hf_quant_config: dict[str, Any] | None,
    files: list[tuple[str, int | None]] | None = None,
) -> ModelFacts:
    """Derive facts from raw metadata. `files` (path, size) overrides the API's sibling list."""
    api = api or {}
    notes: list[str] = []
    if files is None:
        files = [(s["rfilename"], s.get("size")) for s in api.get("siblings") or []]
    cfg = config or {}
    if config is None:
        notes.append("config.json is missing: architecture, context and KV-cache facts are unknown")
    text = arch.text_config(cfg)
    layout = arch.attention_layout(text) if config is not None else None
    moe = arch.moe_info(text) if config is not None else None
    w = weights.summarise(files)
    q = quant.detect(cfg, hf_quant_config, w.formats)
    counted = params.count(text, layout, moe) if config is not None else None
    params_total = counted.total if counted else None
    params_active = counted.active if counted else None
    safetensors_total = (api.get("safetensors") or {}).get("total")
    if params_total is None and safetensors_total and q.method in (None, "none"):
        # Unquantized checkpoints: the Hub's safetensors element count is the parameter count.
        params_total = int(safetensors_total)
        params_active = params_total if moe is not None and not moe.is_moe else None
    if counted is None and config is not None:
        notes.append("parameter count: this architecture's layout is not modelled")
    card = api.get("cardData") or {}
    gated = api.get("gated")
    architectures = cfg.get("architectures") or []
    return ModelFacts(
        id=model_id,
        revision=revision,
        source=source,
        architecture=architectures[0] if architectures else None,
        model_type=text.get("model_type") or cfg.get("model_type"),
        multimodal=arch.is_multimodal(cfg),
        params_total=params_total,
        params_active=params_active,
        moe=moe.is_moe if moe else None,
        num_experts=moe.num_experts if moe else None,
        experts_per_token=moe.experts_per_token if moe else None,
        moe_gated=moe.gated if moe and moe.is_moe else None,
        moe_activation=moe.activation if moe and moe.is_moe else None,
        num_layers=layout.num_layers if layout else None,
        attention=layout,
        hidden_size=arch.as_int(text.get("hidden_size")),
        intermediate_size=arch.as_int(text.get("intermediate_size_mlp") or text.get("intermediate_size")),
        moe_intermediate_size=(
            arch.as_int(text.get("moe_intermediate_size") or text.get("intermediate_size"))
            if moe and moe.is_moe else None
        ),
        vocab_size=arch.as_int(text.get("vocab_size") or cfg.get("vocab_size")),
        max_context=arch.max_context(text, cfg),
        torch_dtype=text.get("torch_dtype") or text.get("dtype") or cfg.get("torch_dtype") or cfg.get("dtype"),
        weights_bytes=w.weights_bytes,
        weight_format=w.weight_format,
        formats=w.formats,
        gguf_files=w.gguf_files,
        quantization=q,
        trust_remote_code=bool(cfg.get("auto_map")),
        gated=(gated if isinstance(gated, str) else None) if gated else None,
        private=api.get("private"),
        license=card.get("license") if isinstance(card, dict) else None,
        downloads=api.get("downloads"),
        likes=api.get("likes"),
        tags=tuple(api.get("tags") or ()),
        notes=tuple(notes + w.notes),
    )
