"""Detect how a checkpoint is quantized, the way vLLM does.

Order (vLLM's get_config / ModelConfig._parse_quant_hf_config): config.json
`quantization_config` (or `compression_config`, also inside text_config), else a ModelOpt
`hf_quant_config.json`; GGUF files are their own format. A ModelOpt config.json looks like
compressed-tensors (config_groups) but says `quant_method: modelopt`: key on quant_method first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from spark_tui.hub.config_values import MAX_WIDTH, Fields

_MAX_BITS = 64


@dataclass(frozen=True)
class QuantInfo:
    """The checkpoint's quantization: method, scheme and what could not be read."""

    method: str | None  # compressed-tensors, modelopt, mxfp4, awq, gptq, fp8, bitsandbytes, gguf, none
    scheme: str | None  # nvfp4 (W4A4), nvfp4a16, mxfp4, w4a16-int, w8a8-int, fp8, fp8-block, nf4, mixed, bf16...
    producer: str | None  # llm-compressor, modelopt 0.31.0, autoawq, ...
    kv_cache_dtype: str | None  # fp8 when the checkpoint ships quantized KV scales, else None
    weight_bits: int | None = None
    activation_bits: int | None = None  # None: weight-only (W4A16-style)
    group_size: int | None = None
    group_schemes: tuple[str, ...] = ()  # per config group, for mixed precision
    vllm_method: str | None = None  # what vLLM resolves it to (modelopt_fp4, compressed-tensors, ...)
    problem: str | None = None  # a declaration vLLM will misread or not know, in words
    problem_kind: str | None = None  # algo-without-method, unknown-method, unknown-algo, no-scheme


def _group_scheme(group: Fields, fmt: str | None) -> str | None:
    w = group.obj("weights")
    a = group.obj("input_activations")
    bits, wtype = w.integer("num_bits", high=_MAX_BITS), w.text("type")
    gsize = w.integer("group_size", low=-1, high=MAX_WIDTH)  # -1: one group per channel
    if fmt == "mxfp4-pack-quantized" or (wtype == "float" and bits == 4 and gsize == 32):
        return "mxfp4"
    a_bits, a_type = a.integer("num_bits", high=_MAX_BITS), a.text("type")
    if wtype == "float" and bits == 4:
        if a_type == "float" and a_bits == 4:
            return "nvfp4"
        return "nvfp4a16"
    if wtype == "int" and bits == 4:
        if a_bits == 8:
            return "w4a8-int"
        return "w4a16-int"
    if wtype == "int" and bits == 8:
        return "w8a8-int" if a else "w8a16-int"
    if wtype == "float" and bits == 8:
        if w.text("strategy") == "block":
            return "fp8-block"
        return "fp8" if a else "fp8-weight-only"
    return None


def _kv_cache_dtype(fields: Fields, key: str) -> str | None:
    """A KV-cache scheme, written as a name ("FP8") or as an object ({num_bits: 8, type: float})."""
    if isinstance(fields.raw(key), str):
        name = fields.text(key)
        return name.lower() if name else None
    scheme = fields.sub(key)
    if scheme and scheme.integer("num_bits", high=_MAX_BITS) == 8:
        return "fp8" if (scheme.text("type") or "float") == "float" else "int8"
    return None


_ALGO_SCHEMES = {
    "NVFP4": "nvfp4",
    "W4A16_NVFP4": "nvfp4a16",
    "NVFP4_AWQ": "nvfp4",
    "FP8": "fp8",
    "FP8_PER_CHANNEL_PER_TOKEN": "fp8",
    "FP8_PB_WO": "fp8-block",
    "MXFP8": "mxfp8",
    "W4A16_AWQ": "w4a16-int",
    "W4A8_AWQ": "w4a8-int",
    "W8A16": "w8a16-int",
    "W8A8_SQ_PER_CHANNEL": "w8a8-int",
    "W4A8_NVFP4_FP8": "nvfp4-w4a8",
    "W4A8_MXFP4_FP8": "mxfp4-w4a8",
    "MIXED_PRECISION": "mixed",
}
_SCHEME_BITS = {
    "nvfp4": (4, 4), "nvfp4a16": (4, None), "mxfp4": (4, None), "w4a16-int": (4, None),
    "w4a8-int": (4, 8), "w8a16-int": (8, None), "w8a8-int": (8, 8), "fp8": (8, 8),
    "fp8-block": (8, 8), "fp8-weight-only": (8, None), "mxfp8": (8, 8), "nf4": (4, None),
    "int8": (8, None), "nvfp4-w4a8": (4, 8), "mxfp4-w4a8": (4, 8),
}


def _finish(method: str | None, scheme: str | None, producer: str | None, kv: str | None, *,
            group_size: int | None = None, groups: tuple[str, ...] = (), vllm_method: str | None = None,
            problem: str | None = None) -> QuantInfo:
    bits = _SCHEME_BITS.get(scheme or "", (None, None))
    if scheme == "mixed" and groups:
        # Mixed precision: report the narrowest weights present.
        candidates = [_SCHEME_BITS.get(g, (None, None)) for g in groups]
        widths = [b for b in candidates if b[0]]
        bits = min(widths, key=lambda b: b[0] or 99) if widths else (None, None)
    return QuantInfo(method, scheme, producer, kv, bits[0], bits[1], group_size, groups, vllm_method, problem)


def _modelopt(qc: Fields, legacy: Fields | None) -> QuantInfo:
    inner = qc.sub("quantization") or qc
    algo = (inner.text("quant_algo") or "").upper()
    producer = qc.sub("producer") or (legacy.sub("producer") if legacy is not None else None)
    version = producer.text("version") if producer else None
    producer_s = "modelopt" + (f" {version}" if version else "")
    scheme = _ALGO_SCHEMES.get(algo)
    groups: tuple[str, ...] = ()
    if algo == "MIXED_PRECISION":
        layers = inner.obj("quantized_layers")
        algos = sorted({(layer.text("quant_algo") or "").upper() for _, layer in layers.subs()})
        groups = tuple(_ALGO_SCHEMES.get(a, a.lower()) for a in algos if a)
    elif scheme == "nvfp4":
        # A W4A16 export keeps quant_algo NVFP4 in some versions; the groups tell.
        found = {_group_scheme(g, None) for _, g in qc.obj("config_groups").subs()}
        if found == {"nvfp4a16"}:
            scheme = "nvfp4a16"
    kv = _kv_cache_dtype(inner, "kv_cache_quant_algo") or _kv_cache_dtype(qc, "kv_cache_scheme")
    vllm_names = {"nvfp4": "modelopt_fp4", "mixed": "modelopt_mixed", "nvfp4a16": "modelopt_fp4"}
    vllm = vllm_names.get(scheme or "", "modelopt")
    problem = None
    if scheme is None:
        problem = f"ModelOpt quant_algo {algo or '(none)'} is not one spark-tui knows"
    info = _finish("modelopt", scheme, producer_s, kv, group_size=inner.integer("group_size", low=-1, high=MAX_WIDTH),
                   groups=groups, vllm_method=vllm, problem=problem)
    return replace(info, problem_kind="unknown-algo") if problem else info


def _compressed_tensors(qc: Fields) -> QuantInfo:
    fmt = qc.text("format")
    schemes = []
    group_size = None
    for _, group in qc.obj("config_groups").subs():
        s = _group_scheme(group, group.text("format") or fmt)
        if s:
            schemes.append(s)
        group_size = group_size or group.obj("weights").integer("group_size", low=-1, high=MAX_WIDTH)
    unique = tuple(sorted(set(schemes)))
    scheme = unique[0] if len(unique) == 1 else ("mixed" if unique else None)
    version = qc.text("version")
    producer = "llm-compressor" + (f" (compressed-tensors {version})" if version else "")
    info = _finish("compressed-tensors", scheme, producer, _kv_cache_dtype(qc, "kv_cache_scheme"),
                   group_size=group_size, groups=unique if len(unique) > 1 else (),
                   vllm_method="compressed-tensors",
                   problem=None if scheme else "no recognised weight scheme in config_groups")
    return info if scheme else replace(info, problem_kind="no-scheme")


def detect(cfg: Fields, hf_quant_config: Fields | None, formats: tuple[str, ...]) -> QuantInfo:
    from spark_tui.hub.arch import text_config

    qc = cfg.sub("quantization_config") or cfg.sub("compression_config") or text_config(cfg).sub("quantization_config")
    if not qc and hf_quant_config is not None:
        return _modelopt(hf_quant_config, hf_quant_config)
    if not qc:
        if formats == ("gguf",):
            return _finish("gguf", "gguf", None, None)
        text = text_config(cfg)
        dtype = cfg.text("torch_dtype") or text.text("torch_dtype") or text.text("dtype") or cfg.text("dtype") or ""
        return _finish("none", dtype.replace("float", "fp").replace("bfp16", "bf16") or None, None, None)

    method = (qc.text("quant_method") or "").lower().replace("compressed_tensors", "compressed-tensors")
    producer = qc.sub("producer")
    if method == "modelopt" or (producer and producer.text("name") == "modelopt"):
        return _modelopt(qc, hf_quant_config)
    if not method and qc.present("quant_algo"):
        # vLLM ignores a config with quant_algo but no quant_method/producer and loads it unquantized.
        info = _modelopt(qc, None)
        return QuantInfo(None, info.scheme, None, info.kv_cache_dtype, info.weight_bits, info.activation_bits,
                         info.group_size, info.group_schemes, None,
                         "quantization_config has quant_algo but no quant_method: vLLM treats it as unquantized",
                         "algo-without-method")
    if method == "compressed-tensors":
        return _compressed_tensors(qc)
    if method == "mxfp4":
        return _finish("mxfp4", "mxfp4", None, None, group_size=32, vllm_method="mxfp4")
    if method in ("awq", "gptq"):
        bits = qc.integer("bits", high=_MAX_BITS) or qc.integer("w_bit", high=_MAX_BITS)
        scheme = {4: "w4a16-int", 8: "w8a16-int"}.get(bits or 0)
        producer_s = "autoawq" if method == "awq" else ("gptqmodel" if qc.present("checkpoint_format") else "gptq")
        group_key = qc.first_key(("group_size", "q_group_size"))  # -1: one group per channel
        group_size = qc.integer(group_key, low=-1, high=MAX_WIDTH) if group_key else None
        return _finish(method, scheme, producer_s, None, group_size=group_size, vllm_method=f"{method}_marlin")
    if method == "fp8":
        scheme = "fp8-block" if qc.present("weight_block_size") else "fp8"
        return _finish("fp8", scheme, None, None, vllm_method="fp8")
    if method == "bitsandbytes":
        scheme = (qc.text("bnb_4bit_quant_type") or "nf4") if qc.flag("load_in_4bit") else "int8"
        return _finish("bitsandbytes", scheme, "bitsandbytes", None, vllm_method="bitsandbytes")
    return QuantInfo(method or None, None, None, None, problem=f"unknown quantization method {method or '(none)'}",
                     problem_kind="unknown-method")
