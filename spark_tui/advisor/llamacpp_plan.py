"""The memory plan for llama.cpp (llama-server), in llama.cpp's own terms: what `check --engine llamacpp`, the app's
memory bar and the launch plan use instead of vLLM's accounting.

Per GPU, each term with the llama.cpp source it follows (ggml-org/llama.cpp master around b10573, read in the
ngxson/llama.cpp mirror at 3f545becc; the research notes are summarised in tests/fixtures/llamacpp-startup/README.md):

  weights   the GGUF file's bytes (all split parts) for the offloaded layers: `-ngl` all by default since b6325
            (llama_model_default_params n_gpu_layers 999, #15434); src/llama-model.cpp load_tensors copies each
            tensor into a CUDA buffer (the CUDA backend cannot wrap the mmap: ggml-cuda.cu buffer_from_host_ptr =
            false). Layers are split evenly over the GPUs (-sm layer, the default).
  KV cache  llamacpp_memory(): n_ctx × layers × KV heads × head size × cache-type bytes, sliding-window layers in
            their own small cache, slots (-np) sharing one unified cache by default.
  compute   the scheduler's reserve for one ubatch (llama_context::sched_reserve / graph_reserve: n_tokens =
            min(n_ctx, n_ubatch), default 512); see compute_buffers() for the model and how well it matched.
  context   the CUDA context and cuBLAS workspace, which llama.cpp does not print: an estimate.

The budget is the memory less llama.cpp's `--fit` margin (common/common.h fit_params_target: 1 GiB per device), or
on GB10 the profile's recommended share (the OS and the page cache live in the same pool).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from spark_tui.advisor.llamacpp_memory import CACHE_TYPES, DEFAULT_UBATCH, LlamaCppMemory, llamacpp_memory
from spark_tui.advisor.types import LlamaCppDetail, MemoryPlan, PlanOptions
from spark_tui.hardware.facts import HardwareFacts
from spark_tui.hub.facts import ModelFacts

GIB = 1024**3
MIB = 1024**2
FIT_MARGIN_BYTES = 1 << 30  # common/common.h fit_params_target: 1 GiB left free per device
FIT_MIN_CONTEXT = 4096  # common/common.h fit_params_min_ctx: --fit never shrinks the context below this
# Not printed by llama.cpp: the CUDA context, cuBLAS handles and workspace. A few hundred MiB on current GPUs;
# 512 MiB keeps the plan on the safe side (an estimate, not a measured figure).
CUDA_CONTEXT_BYTES = 512 * MIB
VOCAB_FALLBACK = 152_064  # when the header's vocabulary is unknown: a large modern vocabulary (Qwen2.5's)
_VLLM_DTYPES = {"auto": "f16", "float16": "f16", "half": "f16", "bfloat16": "bf16"}


def llama_build(engine_version: str | None) -> int | None:
    """llama.cpp's build number from `version: N (commit)` / 'b6699' / '6699'; None (a current build) otherwise."""
    text = (engine_version or "").strip().lower().removeprefix("b")
    return int(text) if text.isdigit() else None


def cache_type(kv_cache_dtype: str) -> str:
    """A llama.cpp `-ctk/-ctv` type for the plan's --kv-cache-dtype; vLLM names map to f16/bf16, others to f16."""
    name = kv_cache_dtype.lower()
    return name if name in CACHE_TYPES else _VLLM_DTYPES.get(name, "f16")


def compute_buffers(model: ModelFacts, mem: LlamaCppMemory, flash_attn: bool,
                    n_ubatch: int = DEFAULT_UBATCH) -> tuple[int, int, list[str]]:
    """(device, host, assumptions): the compute buffers llama.cpp reserves for one ubatch.

    The scheduler sizes them from the worst-case graph of n_ub = min(n_ctx, n_ubatch) tokens against the whole KV
    cache (llama_context::sched_reserve; ggml-alloc reuses a tensor's memory once its last consumer ran, so the
    size is the largest set of tensors alive at one time). The model, in bytes:

      device = max(logits, attention)
        logits    = n_ub × 4 × (n_vocab + n_embd)            f32 output rows and the last hidden state
        attention = n_ub × 4 × (n_kv × (n_head + 1) + 4 × n_embd)   without flash attention: f32 KQ scores of
                    every head, the f32 mask and a few hidden-state tensors
                  = n_ub × (2 × n_kv + 16 × n_embd)          with flash attention: no KQ matrix, an f16 mask
      host   = n_ub × 4 × (n_kv + n_embd + swa_cells)        inputs kept in pinned host memory: the f32 masks
                                                              and the token embeddings
               + n_vocab × 4 × slots                          the output buffer

    Held against the public start-up logs (tests/fixtures/llamacpp-startup/records.jsonl, bench/
    llamacpp_memory_records.py): with every layer on the GPU the device figure matched to the MiB where logits or
    the KQ scores dominate (Mistral-7B without flash attention at 2,048 and 32,768 cells: 164 and 2,144 MiB;
    Qwen2.5-3B: 300.75 MiB) and came out 1.4 % low for gpt-oss-20b with flash attention (404 MiB printed, on
    Metal); the host figure matched every log to 0.05 MiB. Runs with weights or experts left on the CPU reserve
    more on the GPU (staging copies: gpt-oss-20b with --n-cpu-moe printed 13 % more), which this does not model.
    """
    assumptions: list[str] = []
    layout = model.attention
    heads = (layout.num_attention_heads if layout else None) or 32
    hidden = model.hidden_size or (heads * (layout.head_dim or 128) if layout else 4096)
    vocab = model.vocab_size
    if not vocab:
        vocab = VOCAB_FALLBACK
        assumptions.append(f"vocabulary size unknown: {VOCAB_FALLBACK:,} assumed for the compute buffers")
    n_ub = min(mem.n_ctx, n_ubatch)
    n_kv = mem.kv_cells
    logits = n_ub * 4 * (vocab + hidden)
    # With flash attention no KQ matrix exists (an f16 mask and a few hidden-state tensors remain).
    attention = n_ub * (2 * n_kv + 16 * hidden) if flash_attn else n_ub * 4 * (n_kv * (heads + 1) + 4 * hidden)
    device = max(logits, attention)
    host = n_ub * 4 * (n_kv + hidden + (mem.swa_cells or 0)) + vocab * 4 * mem.n_slots
    assumptions.append("compute buffers: estimated from one ubatch's graph (matched public start-up logs to "
                       "within 2 % with every layer on the GPU)")
    return device, host, assumptions


@dataclass(frozen=True)
class _Need:
    mem: LlamaCppMemory
    device: int
    host: int
    notes: list[str]

    @property
    def compute(self) -> int:
        return self.device + self.host


def _flash(cache_v: str) -> bool | None:
    # A quantized V cache needs flash attention (llama_init_from_model turns "auto" on for it); otherwise the
    # build's default (llamacpp_memory: auto, taken as on, since b6325).
    return True if cache_v not in ("f16", "bf16", "f32") else None


def plan_llamacpp(model: ModelFacts, hardware: HardwareFacts, options: PlanOptions) -> MemoryPlan | None:
    """llama-server's memory for `model` on `hardware`, per GPU; None when the model or the memory is unknown."""
    if hardware.memory_bytes is None or model.weights_bytes is None or model.problems:
        return None
    total = hardware.memory_bytes
    gpus = max(hardware.gpus or 1, 1)
    build = llama_build(options.engine_version)
    if options.gpu_memory_utilization is not None:
        util, util_source = options.gpu_memory_utilization, "given"
    elif hardware.recommended_gpu_memory_utilization is not None:
        util, util_source = hardware.recommended_gpu_memory_utilization, "recommended"
    else:
        util, util_source = max(0.5, (total - FIT_MARGIN_BYTES) / total), "default"
    budget = math.ceil(total * util)
    cache_k = cache_type(options.kv_cache_dtype)
    cache_v = cache_k
    flash = _flash(cache_v)
    weights = math.ceil(model.weights_bytes / gpus)
    context = CUDA_CONTEXT_BYTES

    def need(n_ctx: int) -> _Need | None:
        mem = llamacpp_memory(model, n_ctx=n_ctx, n_parallel=options.max_num_seqs, cache_type_k=cache_k,
                              cache_type_v=cache_v, build=build, flash_attn=flash)
        if mem is None:
            return None
        fa = flash if flash is not None else build is None or build >= 6325
        device, host, notes = compute_buffers(model, mem, fa)
        return _Need(mem, device, host, notes)

    def per_gpu(n: _Need) -> int:
        return weights + math.ceil(n.mem.kv_bytes / gpus) + n.compute + context

    model_max = model.max_context
    probe = need(options.max_model_len or model_max or FIT_MIN_CONTEXT)
    if probe is None:
        return None

    def fits(n_ctx: int) -> bool:
        n = need(n_ctx)
        return n is not None and per_gpu(n) <= budget

    fit_len = _longest(fits, model_max or 1 << 20)
    if options.max_model_len:
        ctx, source = options.max_model_len, "given"
    elif model_max and fit_len >= model_max:
        ctx, source = model_max, "model"
    elif fit_len >= 256:
        # llama-server's --fit shrinks an unset context the same way, to a multiple of 256 (common/fit.cpp).
        ctx, source = fit_len // 256 * 256, "reduced"
    else:
        ctx, source = min(model_max or FIT_MIN_CONTEXT, FIT_MIN_CONTEXT), "reduced"
    planned = need(ctx)
    assert planned is not None  # the layout is known (probe above)
    mem = planned.mem
    kv = math.ceil(mem.kv_bytes / gpus)
    overhead = planned.compute + context
    fits_now = weights + overhead + kv <= budget and (source != "reduced" or fit_len >= 256)
    full = mem.parts[0]
    per_token = math.ceil(full.bytes / max(full.cells * mem.kv_streams, 1) / gpus)
    notes = list(mem.assumptions) + planned.notes
    notes.append(f"CUDA context: {CUDA_CONTEXT_BYTES // MIB} MiB assumed (llama.cpp does not print it)")
    if gpus > 1:
        notes.append(f"weights and KV cache split evenly over {gpus} GPUs (llama.cpp's default -sm layer)")
    if hardware.unified_memory:
        notes.append("unified memory: llama.cpp maps the GGUF file and copies its tensors into CUDA buffers in "
                     "the same pool, so the file's pages stay in the page cache after loading (reclaimable; "
                     "llama.cpp counts free memory from /proc/meminfo MemAvailable on this GPU)")
    detail = LlamaCppDetail(
        kv_cache_bytes=mem.kv_bytes, compute_bytes=planned.compute, compute_device_bytes=planned.device,
        compute_host_bytes=planned.host, cuda_context_bytes=context, n_ctx=mem.n_ctx, n_parallel=mem.n_slots,
        kv_unified=mem.kv_unified, cache_type_k=cache_k, cache_type_v=cache_v,
        flash_attn=flash if flash is not None else build is None or build >= 6325, n_ubatch=DEFAULT_UBATCH,
        n_gpu_layers="all", swa_cells=mem.swa_cells, default_parallel=options.max_num_seqs is None)
    return MemoryPlan(
        total_bytes=total, gpu_memory_utilization=util, utilization_source=util_source, budget_bytes=budget,
        weights_bytes=weights, activation_bytes=planned.compute, non_torch_bytes=context, cudagraph_bytes=0,
        overhead_bytes=overhead, kv_cache_bytes=kv, kv_bytes_per_token=per_token, kv_cache_dtype=cache_k,
        block_size=256, num_blocks=mem.kv_cells * mem.kv_streams // 256,
        kv_cache_tokens=mem.kv_cells * mem.kv_streams, max_model_len=mem.n_ctx if fits_now or source == "given"
        else None, max_model_len_fit=fit_len, max_model_len_source=source, model_max_context=model_max,
        max_num_batched_tokens=DEFAULT_UBATCH, max_num_seqs=mem.n_slots,
        weights_fit=weights + overhead < budget, fits=fits_now, max_model_len_safe=fit_len,
        assumptions=tuple(dict.fromkeys(notes)), llamacpp=detail,
    )


def _longest(fits: Callable[[int], bool], cap: int) -> int:
    """The longest context (a multiple of 256, up to `cap`) for which `fits(n)` holds; 0 when none does."""
    lo, hi = 0, max(cap // 256, 0)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid * 256):
            lo = mid
        else:
            hi = mid - 1
    length = lo * 256
    return min(length, cap) if length else (cap if cap < 256 and fits(cap) else 0)


def with_variant(model: ModelFacts, file: str, size: int | None, quant: str | None) -> ModelFacts:
    """The same model planned for another GGUF variant: its file, size and quant type (the header's architecture
    is shared by every quantization of one model)."""
    q = replace(model.quantization, scheme=quant)
    return replace(model, weights_bytes=size, gguf_choice=file, quantization=q)
