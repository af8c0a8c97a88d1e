"""How much KV cache and weights memory llama.cpp (llama-server) allocates for a model, as llama.cpp counts it.

A pure function of ModelFacts and the server options: no I/O, no hardware. References are llama.cpp's own source
(ggml-org/llama.cpp master around build b10573, and the build numbers where a term changed; the research notes
with commits are summarised in tests/fixtures/llamacpp-startup/README.md). Checked against public llama-server
start-up logs (tests/fixtures/llamacpp-startup/records.jsonl): the `llama_kv_cache…: size = X MiB` lines are
reproduced to the MiB.

Not modelled here: compute buffers (`sched_reserve` / `llama_context: … compute buffer size`), the recurrent state
of hybrid models (`llama_memory_recurrent: … RS buffer size`), `--fit` shrinking an unset context, and
architecture-specific caches (DeepSeek-V4's).
"""

from __future__ import annotations

from dataclasses import dataclass

from spark_tui.hub.facts import ModelFacts

# ggml/src/ggml-common.h: (values per block, bytes per block) of each `-ctk/-ctv` type (common/arg.cpp
# `kv_cache_types`). QK8_0 = 32, sizeof(block_q8_0) = sizeof(ggml_half) + QK8_0 = 34; block_q4_0 = half + 16 = 18;
# q4_1 = 2 halves + 16 = 20; q5_0 = half + u32 + 16 = 22; q5_1 = 2 halves + u32 + 16 = 24; iq4_nl = half + 16 = 18.
CACHE_TYPES: dict[str, tuple[int, int]] = {
    "f32": (1, 4), "f16": (1, 2), "bf16": (1, 2),
    "q8_0": (32, 34), "q4_0": (32, 18), "q4_1": (32, 20),
    "q5_0": (32, 22), "q5_1": (32, 24), "iq4_nl": (32, 18),
}

DEFAULT_CACHE_TYPE = "f16"  # common/common.h: cache_type_k = cache_type_v = GGML_TYPE_F16
DEFAULT_UBATCH = 512  # common/common.h: n_ubatch = 512
OLD_DEFAULT_CTX = 4096  # common/common.h: n_ctx = 4096 before b7416 (#16653), 0 (= n_ctx_train) since

# Build numbers (first tag carrying the change) where a term of the accounting changed.
B_SWA_CACHE = 5429  # e298d2fbd "kv-cache : add SWA support (#13194)": a small cache for sliding-window layers
B_STREAMS = 5913  # 225e7a143 "llama : add high-throughput mode (#14363)": kv_unified, split streams
B_FA_DEFAULT = 6325  # e81b8e4b7 (#15434): flash attention "auto" by default (was off)
B_SERVER_4_SLOTS = 6931  # cd5e3b575 "server : support unified cache across slots (#16736)"
B_PAD_256 = 6981  # 16bcc1259 "kv-cache : pad the cache size to 256 for performance (#17046)"
B_CTX_TRAIN_DEFAULT = 7416  # b1f3a6e5d (#16653): default -c 0 = the model's n_ctx_train
B_NP_AUTO = 7444  # 7b1db3d3b "arg: clarify auto kvu/np being set on server (#17997)": -np 1 honoured


@dataclass(frozen=True)
class KVCachePart:
    """One `llama_kv_cache` instance, as its `size = …` start-up line prints it."""

    kind: str  # "full" (non-SWA) or "swa"
    cells: int  # per stream: the `N cells` of the log line
    layers: int
    k_bytes: int  # all streams
    v_bytes: int

    @property
    def bytes(self) -> int:
        return self.k_bytes + self.v_bytes


@dataclass(frozen=True)
class LlamaCppMemory:
    """llama-server's KV cache and weights for one model and set of options, and what was assumed to get there."""

    n_ctx: int  # the context llama.cpp settles on (padded)
    n_slots: int  # server slots (n_seq_max)
    kv_unified: bool  # one KV stream shared by all slots
    kv_cells: int  # cells of the full-attention cache, per stream
    kv_streams: int
    parts: tuple[KVCachePart, ...]  # full-attention cache, then the sliding-window cache if any
    weights_bytes: int | None
    assumptions: tuple[str, ...]

    @property
    def k_bytes(self) -> int:
        return sum(p.k_bytes for p in self.parts)

    @property
    def v_bytes(self) -> int:
        return sum(p.v_bytes for p in self.parts)

    @property
    def kv_bytes(self) -> int:
        return self.k_bytes + self.v_bytes

    @property
    def swa_cells(self) -> int | None:
        return next((p.cells for p in self.parts if p.kind == "swa"), None)


def _pad(x: int, n: int) -> int:
    """GGML_PAD(x, n): x rounded up to a multiple of n."""
    return (x + n - 1) // n * n


def row_bytes(cache_type: str, n: int) -> int:
    """ggml_row_size(type, n): bytes of n values of a cache type (whole blocks only, as ggml requires)."""
    try:
        block, size = CACHE_TYPES[cache_type.lower()]
    except KeyError:
        raise ValueError(f"unknown llama.cpp cache type {cache_type!r} (one of {', '.join(CACHE_TYPES)})") from None
    if n % block:
        raise ValueError(f"{cache_type} stores blocks of {block} values; a KV row of {n} values is not whole blocks")
    return n // block * size


def _newer(build: int | None, first: int) -> bool:
    """Whether a build has a change first tagged in `first`; an unknown build is taken as current."""
    return build is None or build >= first


def llamacpp_memory(
    facts: ModelFacts,
    *,
    n_ctx: int | None = None,
    n_parallel: int | None = None,
    cache_type_k: str = DEFAULT_CACHE_TYPE,
    cache_type_v: str = DEFAULT_CACHE_TYPE,
    build: int | None = None,
    kv_unified: bool | None = None,
    flash_attn: bool | None = None,
    swa_full: bool = False,
    n_ubatch: int = DEFAULT_UBATCH,
) -> LlamaCppMemory | None:
    """KV cache and weights bytes llama-server allocates for `facts`, as llama.cpp's start-up log prints them.

    Options are the server's flags, None where not given: `n_ctx` (`-c`), `n_parallel` (`-np`), `cache_type_k/v`
    (`-ctk/-ctv`), `kv_unified` (`-kvu`), `flash_attn` (`-fa`), `swa_full` (`--swa-full`), `n_ubatch` (`-ub`);
    `build` is llama.cpp's build number (`version: N (commit)`), None for a current build. Defaults follow the build.
    Returns None when the facts lack the attention layout (layers, KV heads, head size). Raises ValueError for a
    cache type llama.cpp does not know or whose blocks do not divide a KV row.
    """
    layout = facts.attention
    if layout is None or not layout.num_kv_heads or not layout.head_dim:
        return None
    assumptions: list[str] = []
    if build is None:
        assumptions.append("llama.cpp build unknown: a current build's defaults and padding")

    # src/llama-context.cpp, llama_context::llama_context: n_ctx = params.n_ctx == 0 ? n_ctx_train : params.n_ctx;
    # the server's default -c is 0 since b7416 (common/common.h), 4096 before.
    if n_ctx is None or n_ctx == 0:
        if _newer(build, B_CTX_TRAIN_DEFAULT) and facts.max_context:
            n_ctx = facts.max_context
            assumptions.append(f"context: the model's trained {n_ctx:,} tokens (llama-server's default -c 0); "
                               "--fit may shrink it when memory is short")
        else:
            n_ctx = OLD_DEFAULT_CTX
            why = "before b7416" if facts.max_context else "; the model's trained context is unknown"
            assumptions.append(f"context: {OLD_DEFAULT_CTX} tokens (llama-server's default -c {why})")

    # Flash attention: common/common.h, off by default before b6325 (#15434), "auto" since; auto is taken as on
    # (llama_context::llama_context resolves it with a probe graph; NVIDIA GPUs support it).
    if flash_attn is None:
        flash_attn = _newer(build, B_FA_DEFAULT)
        if flash_attn and (build is None or build < B_PAD_256):
            assumptions.append("flash attention: auto, taken as enabled")
    # Padding: GGML_PAD(n_ctx, 256) since b6981 (#17046, llama_context::llama_context); before, 256 with flash
    # attention and 32 without (llama_kv_cache::get_padding).
    pad = 256 if _newer(build, B_PAD_256) or flash_attn else 32

    # Slots: tools/server/server.cpp, -np auto (-1) becomes n_parallel = 4 with kv_unified = true (since b6931;
    # b6931..b7443 did the same to -np 1). Before b6931 the server default was 1 slot.
    explicit_slots = n_parallel is not None
    if n_parallel is None or (n_parallel == 1 and build is not None and B_SERVER_4_SLOTS <= build < B_NP_AUTO):
        if _newer(build, B_SERVER_4_SLOTS):
            n_parallel = 4
            if kv_unified is None:
                kv_unified = True
            assumptions.append("4 server slots sharing one unified KV cache (llama-server's default -np)")
        else:
            n_parallel = 1
    if n_parallel < 1:
        raise ValueError(f"n_parallel must be at least 1, not {n_parallel}")
    # common/common.h kv_unified = false; before b5913 every sequence shared the one cache.
    if not _newer(build, B_STREAMS):
        kv_unified = True
    elif kv_unified is None:
        kv_unified = n_parallel == 1 or not explicit_slots

    # llama_context::llama_context: unified -> n_ctx_seq = n_ctx, one stream; split -> n_ctx_seq =
    # GGML_PAD(n_ctx / n_seq_max, 256) per stream, n_seq_max streams (llama_model::create_memory passes n_ctx_seq
    # as kv_size; llama_kv_cache::llama_kv_cache: n_stream = unified ? 1 : n_seq_max).
    n_ctx = _pad(n_ctx, pad)
    if kv_unified:
        cells, streams = n_ctx, 1
    else:
        cells, streams = _pad(n_ctx // n_parallel, pad), n_parallel
        n_ctx = cells * n_parallel
        if build is not None and build < B_PAD_256:
            assumptions.append("split KV streams before b6981: per-stream padding as in current builds (approximate)")

    # src/llama-kv-cache.cpp, llama_kv_cache::llama_kv_cache: per layer K = [n_embd_k_gqa, kv_size, n_stream] of
    # type_k and V = [n_embd_v_gqa, …] of type_v; llama-hparams.cpp n_embd_k_gqa = n_embd_head_k * n_head_kv.
    # MLA (DeepSeek): K holds the latent (kv_lora_rank + rope dims), no V tensor (has_v = !is_mla).
    if layout.kind == "mla" and layout.mla_latent:
        k_row = row_bytes(cache_type_k, layout.mla_latent)
        v_row = 0
        assumptions.append("MLA: one latent K row per layer and no V (current llama.cpp)")
    else:
        k_row = row_bytes(cache_type_k, layout.num_kv_heads * layout.head_dim)
        v_row = row_bytes(cache_type_v, layout.num_kv_heads * (layout.head_dim_v or layout.head_dim))
    if layout.mamba_layers:
        assumptions.append(f"{layout.mamba_layers} recurrent layers: their state is not counted")

    def part(kind: str, part_cells: int, layers: int) -> KVCachePart:
        return KVCachePart(kind, part_cells, layers, layers * part_cells * streams * k_row,
                           layers * part_cells * streams * v_row)

    parts = []
    sliding = layout.sliding_layers if layout.sliding_window else 0
    full = layout.full_layers if sliding else layout.full_layers + layout.sliding_layers
    if sliding and _newer(build, B_SWA_CACHE):
        # src/llama-kv-cache-iswa.cpp, llama_kv_cache_iswa::llama_kv_cache_iswa: a second cache for SWA layers of
        # GGML_PAD(min(size_base, n_swa * (unified ? n_seq_max : 1) + n_ubatch), 256) cells (--swa-full: size_base).
        # Before b6981 the padding was inside the min and used the context's padding.
        window = layout.sliding_window or 0
        want = window * (n_parallel if kv_unified else 1) + n_ubatch
        if swa_full:
            swa_cells = cells
        elif _newer(build, B_PAD_256):
            swa_cells = _pad(min(cells, want), 256)
        else:
            swa_cells = min(cells, _pad(want, pad))
        parts.append(part("full", cells, full))
        parts.append(part("swa", swa_cells, sliding))
    else:
        if sliding:
            assumptions.append("sliding-window layers hold the whole context (no SWA cache before b5429)")
        parts.append(part("full", cells, full + sliding))

    # src/llama-model.cpp, load_tensors: every tensor of the GGUF is mapped (CPU_Mapped) or copied to a device
    # buffer, so the weights are the file's size (all split parts).
    if facts.weights_bytes is not None:
        assumptions.append("weights: the GGUF file size (llama.cpp maps or copies every tensor)")
    return LlamaCppMemory(
        n_ctx=n_ctx, n_slots=n_parallel, kv_unified=bool(kv_unified), kv_cells=cells, kv_streams=streams,
        parts=tuple(parts), weights_bytes=facts.weights_bytes, assumptions=tuple(assumptions),
    )
