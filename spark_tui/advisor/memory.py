"""How much memory a model takes under vLLM, predicted before launch.

The model follows vLLM V1's start-up (reference: vllm/v1/worker/gpu_worker.py, vllm/utils/mem_utils.py,
vllm/v1/core/kv_cache_utils.py; the version history is in the project's reference notes):

  requested   = ceil(total × gpu_memory_utilization)          total: CUDA's total per GPU
  non_kv      = weights/TP + activation peak + non-torch growth (+ CUDA-graph estimate from v0.21)
  kv_bytes    = requested − non_kv
  page        = block_size × kv_heads_per_rank × (head_dim_k + head_dim_v) × dtype_bytes   (MLA: × latent, no K/V pair)
  num_blocks  = kv_bytes // page // layers_per_pool
  tokens      = num_blocks × block_size, or for sliding-window models max_concurrency × max_model_len (newest)

Assumptions (each stated in MemoryPlan.assumptions when it applies):
- V0 (before v0.8) without chunked prefill (max_model_len ≤ 32K) profiles max(max_model_len, 2048) tokens at once.
- Activation peak (the profile run), fitted on the public start-up records (tests/fixtures/vllm-startup):
  * layers: each batched token holds the MLP's gate/up output, its activation and the residual/normed hidden
    copies, 2 × (3 × intermediate/TP + 3 × hidden) bytes (Llama-3.1-8B, V0: +0.92 GiB from 20K to 29K tokens,
    modelled +0.93), plus the fused-MoE caches for top-k experts;
  * V0 adds the bf16 logits of one token per sequence; V1 runs the sampler after the model, on max_num_seqs fp32
    rows, so its peak is the larger of the two plus 0.15 GiB of workspaces. The sampler costs ~38 B per vocab
    entry while the profiling sampler sorted for top-k/top-p (before v0.17; 2025 logs: gpt-oss-120b, gemma-3-4b)
    and ~16 B once the Triton kernel replaced the sort (v0.17+; 2026 logs: Qwen3-8B, gpt-oss-20b, Gemma-4-26B).
- Non-torch growth after the start-up snapshot: 0.25 GiB at TP1; NCCL/custom all-reduce buffers at TP>1.
- CUDA graphs (v0.21+, subtracted up front): 0.3 GiB + 12 MiB per layer, doubled for MoE; public logs show
  0.2–1.3 GiB for ≤30B dense models. Before v0.21 graphs come out of the (1 − utilization) headroom.
- Mamba/linear-attention state of hybrid models is not modelled (only attention layers hold per-token KV).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from packaging.version import InvalidVersion, Version

from spark_tui.advisor.types import MemoryPlan, PlanOptions
from spark_tui.hardware.facts import HardwareFacts
from spark_tui.hub.facts import ModelFacts

GIB = 1024**3
_DTYPE_BYTES = {"auto": 2, "bfloat16": 2, "float16": 2, "half": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1,
                "fp8_inc": 1, "int8": 1, "fp8_ds_mla": 1, "nvfp4": 0.5625}


# Where vLLM's own KV tokens fall around the plan's, learnt from the public start-up records
# (tests/fixtures/vllm-startup; bench/memory_records.py): the whole plan's KV memory was 0.974–1.034 × what vLLM
# printed, and the layout's tokens for a given memory 0.906–1.001 × (hybrid Qwen3.6 pages the worst); the band is
# the product of the two spreads, rounded outward. tests/unit/test_plan_vs_records.py fails if a record falls
# outside it or it is wider than the records need.
KV_TOKENS_BAND = (0.88, 1.04)
V0_END = Version("0.8")  # V1 became the default engine in v0.8.0
V0_CHUNKED_ABOVE = 32768  # V0 turned chunked prefill on by itself for longer contexts


def _version(text: str | None) -> Version:
    try:
        return Version(text or "0.28.0")
    except InvalidVersion:
        return Version("0.28.0")


def default_utilization(engine_version: str | None) -> float:
    """0.90 up to v0.20; 0.92 from v0.21 (vLLM PR #38284)."""
    return 0.92 if _version(engine_version) >= Version("0.21") else 0.90


def batch_defaults(total_bytes: int, gpu_name: str | None, engine_version: str | None) -> tuple[int, int]:
    """vLLM's OpenAI-server defaults for (max_num_batched_tokens, max_num_seqs) (EngineArgs.get_batch_defaults)."""
    version = _version(engine_version)
    if version < Version("0.10"):
        return 2048, 256
    gib = total_bytes / GIB
    if version >= Version("0.28") and gib >= 160:
        return 16384, 1024
    if gib >= 70 and "A100" not in (gpu_name or ""):
        return 8192, 1024
    return 2048, 256


def kv_dtype_bytes(kv_cache_dtype: str) -> float:
    return _DTYPE_BYTES.get(kv_cache_dtype.lower(), 2)


def _effective_kv_dtype(model: ModelFacts, requested: str) -> str:
    # DeepSeek-V3.2 defaults its KV cache to fp8 (the fp8_ds_mla layout).
    if requested == "auto" and model.model_type == "deepseek_v32":
        return "fp8_ds_mla"
    return requested


def page_bytes_per_token(model: ModelFacts, tp: int, kv_cache_dtype: str) -> int | None:
    """KV bytes for one token in ONE attention layer on one rank."""
    layout = model.attention
    if layout is None:
        return None
    if layout.kind == "mla":
        if kv_cache_dtype == "fp8_ds_mla":
            return 656
        return int((layout.mla_latent or 0) * kv_dtype_bytes(kv_cache_dtype))
    if not (layout.num_kv_heads and layout.head_dim):
        return None
    heads_per_rank = max(1, layout.num_kv_heads // tp)
    width = layout.head_dim + (layout.head_dim_v or layout.head_dim)
    return math.ceil(heads_per_rank * width * kv_dtype_bytes(kv_cache_dtype))


def kv_bytes_per_token(model: ModelFacts, tp: int, kv_cache_dtype: str) -> int | None:
    """Whole-context KV bytes per token on one rank, counting every attention layer."""
    per_layer = page_bytes_per_token(model, tp, kv_cache_dtype)
    if per_layer is None or model.attention is None:
        return None
    return per_layer * model.attention.attention_layers


def _block_size(model: ModelFacts, hardware: HardwareFacts) -> int:
    if model.attention and model.attention.kind == "mla":
        cc = hardware.compute_capability or ""
        if cc.startswith("9."):
            return 64  # FlashMLA
        if cc.startswith("10."):
            return 128  # CUTLASS MLA
    return 16


# The profile run's dummy sampler asks for top-k/top-p from v0.8.0 (vLLM PR #13594) on. Until v0.16 that path
# sorted the fp32 logits; v0.17.0 made the in-place Triton top-k/top-p kernel the default (PR #33538), leaving
# ~16 B per entry (bf16 logits, fp32 copy, probabilities, scratch). Model Runner V2 (default for more models from
# v0.22) profiles a smaller sampler still; the records do not yet show it, so the V1 figure stays (conservative).
SAMPLER_SORT_END = Version("0.17")
SAMPLER_BYTES_SORTED = 38  # fp32 logits, probabilities, sorted values and int64 indices per vocab entry
SAMPLER_BYTES = 16


def _activation_bytes(model: ModelFacts, tokens: int, seqs: int, hidden: int, tp: int, version: Version) -> int:
    dense = model.intermediate_size or 0
    expert = model.moe_intermediate_size or 0
    widest = max(dense, expert) / tp  # column-parallel: each rank holds its slice of the MLP
    layers = tokens * (3 * widest + 3 * hidden) * 2
    if model.moe and model.experts_per_token:
        layers += tokens * model.experts_per_token * (2 * expert / tp + hidden) * 2 * 2  # fused-MoE caches
    vocab = model.vocab_size or 0
    rows = min(tokens, seqs)
    if version < V0_END:  # V0: logits of each sequence's last token, in bf16, on top of the layers' peak
        return int(layers + rows * vocab * 2)
    per_entry = SAMPLER_BYTES_SORTED if version < SAMPLER_SORT_END else SAMPLER_BYTES
    return int(max(layers, rows * vocab * per_entry) + 0.15 * GIB)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _mxfp4_expert_bytes(experts: int, inter: int, hidden: int) -> int:
    # One layer's MXFP4 experts as vLLM allocates them: fused gate/up (2 × inter rows) and down projections,
    # 4-bit blocks, one scale byte per 32 values and bf16 biases.
    gate_up = 2 * inter * (hidden // 2 + hidden // 32 + 2)
    down = hidden * (inter // 2 + inter // 32 + 2)
    return experts * (gate_up + down)


def mxfp4_padding_bytes(model: ModelFacts, hardware: HardwareFacts) -> int:
    """Bytes vLLM adds to MXFP4 MoE weights when it runs them through Marlin, which pads each expert's width to
    a multiple of 128 and the hidden size to 256 (vllm/model_executor/layers/quantization/mxfp4.py).

    Marlin is the only MXFP4 MoE kernel on Ampere/Ada; on Hopper it is the fallback when the Triton kernels are
    not installed (a public H100 log printed 65.97 GiB for gpt-oss-120b's 60.77 GiB of files: Marlin's padding
    exactly), and GB10/RTX Blackwell runs MXFP4 through Marlin too (vLLM #37030). Blackwell datacenter GPUs
    (10.x) use FlashInfer kernels with their own layout, not modelled: no padding is added there."""
    if model.quantization.method != "mxfp4" or not model.moe:
        return 0
    cc = hardware.compute_capability or ""
    if cc.startswith("10."):
        return 0
    experts, inter, hidden = model.num_experts, model.moe_intermediate_size, model.hidden_size
    layers = model.num_layers
    if not (experts and inter and hidden and layers):
        return 0
    padded = _mxfp4_expert_bytes(experts, _round_up(inter, 128), _round_up(hidden, 256))
    return layers * (padded - _mxfp4_expert_bytes(experts, inter, hidden))


def loaded_weights_bytes(model: ModelFacts, hardware: HardwareFacts, tp: int) -> int | None:
    """What "Model loading took" will print on one rank: the checkpoint's tensors split over TP, plus the
    padding the chosen kernel adds."""
    if model.weights_bytes is None:
        return None
    return math.ceil((model.weights_bytes + mxfp4_padding_bytes(model, hardware)) / tp)


def _cudagraph_bytes(model: ModelFacts) -> int:
    layers = model.num_layers or 32
    estimate = 0.3 * GIB + layers * 12 * 1024**2
    return int(estimate * (2 if model.moe else 1))


def _non_torch_bytes(tp: int) -> int:
    return int(0.25 * GIB) if tp == 1 else int((0.75 + 0.125 * tp) * GIB)


def _blocks_needed(model: ModelFacts, length: int, block: int, mnbt: int, group_size: int) -> int:
    """Blocks one request of `length` tokens holds across all KV groups."""
    layout = model.attention
    assert layout is not None
    full_groups = math.ceil(layout.full_layers / group_size) if layout.full_layers else 0
    sliding_groups = math.ceil(layout.sliding_layers / group_size) if layout.sliding_layers else 0
    need = full_groups * math.ceil(length / block)
    if sliding_groups:
        window = layout.sliding_window or length
        need += sliding_groups * (math.ceil(min(window - 1 + mnbt, length) / block) + 1)
    return need


def _group_size(model: ModelFacts) -> int:
    layout = model.attention
    assert layout is not None
    counts = [c for c in (layout.full_layers, layout.sliding_layers) if c]
    if len(counts) < 2:
        return counts[0] if counts else 1
    small, large = min(counts), max(counts)
    return large if large < 1.5 * small else small


def pipeline_stage(model: ModelFacts, pp: int) -> ModelFacts:
    """The largest of `pp` pipeline stages, as a model of its own: vLLM gives each stage num_layers // pp layers and
    spreads the remainder one each (vllm/distributed/utils.py get_pp_indices), so the largest holds
    ceil(layers / pp). Its weights are taken as the same share of the checkpoint (the embedding on the first stage
    and the LM head on the last are not placed separately: an approximation for models with a large vocabulary)."""
    layout = model.attention
    if pp <= 1 or layout is None or not layout.num_layers:
        return model
    stage_layers = math.ceil(layout.num_layers / pp)
    share = stage_layers / layout.num_layers
    stage = replace(layout, num_layers=stage_layers, full_layers=math.ceil(layout.full_layers / pp),
                    sliding_layers=math.ceil(layout.sliding_layers / pp),
                    mamba_layers=math.ceil(layout.mamba_layers / pp))
    return replace(model, attention=stage, num_layers=stage_layers,
                   weights_bytes=math.ceil(model.weights_bytes * share) if model.weights_bytes else None)


def plan_memory(model: ModelFacts, hardware: HardwareFacts, options: PlanOptions) -> MemoryPlan | None:
    if hardware.memory_bytes is None or model.weights_bytes is None:
        return None
    if model.problems:
        return None  # a plan built on a config with absurd values would be a confident wrong answer
    tp = options.tensor_parallel_size
    version = options.engine_version if options.engine == "vllm" else None
    total = hardware.memory_bytes
    assumptions: list[str] = []
    if options.pipeline_parallel_size > 1:
        # Per GPU, a pipeline stage is a model of a share of the layers: its weights and its KV cache.
        model = pipeline_stage(model, options.pipeline_parallel_size)
        assumptions.append(f"pipeline parallel over {options.pipeline_parallel_size} stages: the largest stage "
                           f"holds {model.num_layers} layers and that share of the weights")
    if options.engine != "vllm":
        assumptions.append(f"memory for {options.engine} is estimated with vLLM's accounting (newest version)")
    if options.gpu_memory_utilization is not None:
        util, util_source = options.gpu_memory_utilization, "given"
    elif hardware.recommended_gpu_memory_utilization is not None:
        util, util_source = hardware.recommended_gpu_memory_utilization, "recommended"
    else:
        util, util_source = default_utilization(version), "default"
    requested = math.ceil(total * util)

    default_tokens, default_seqs = batch_defaults(total, hardware.gpu_name, version)
    mnbt = options.max_num_batched_tokens or default_tokens
    seqs = options.max_num_seqs or default_seqs
    profile_len = options.max_model_len or model.max_context or 0
    if options.max_num_batched_tokens is None and _version(version) < V0_END and profile_len <= V0_CHUNKED_ABOVE:
        # V0 without chunked prefill profiles one batch of max(max_model_len, 2048) tokens, so the activation
        # peak grows with max_model_len (public RTX 3090 logs: +0.92 GiB from 20K to 29K tokens, Llama-3.1-8B).
        mnbt = max(profile_len, 2048)
        assumptions.append(f"vLLM before 0.8 (V0) profiles a {mnbt:,}-token batch (max_model_len) without chunked "
                           "prefill")

    weights = loaded_weights_bytes(model, hardware, tp) or 0
    if mxfp4_padding_bytes(model, hardware):
        assumptions.append("MXFP4 experts run through Marlin, which pads them "
                           f"(+{mxfp4_padding_bytes(model, hardware) / GIB:.1f} GiB of weights)")
    layout = model.attention
    hidden = model.hidden_size or 4096
    activation = _activation_bytes(model, mnbt, seqs, hidden, tp, _version(version))
    non_torch = _non_torch_bytes(tp * options.pipeline_parallel_size)  # NCCL's buffers grow with the world size
    graphs_subtracted = _version(version) >= Version("0.21") and not options.enforce_eager
    cudagraph = _cudagraph_bytes(model) if graphs_subtracted else 0
    if not graphs_subtracted and not options.enforce_eager:
        assumptions.append("CUDA graphs are captured after the KV cache and use the (1 − utilization) headroom")
    overhead = activation + non_torch + cudagraph
    weights_fit = weights + overhead < requested
    kv_cache = max(0, requested - weights - overhead)

    kv_dtype = _effective_kv_dtype(model, options.kv_cache_dtype)
    block = _block_size(model, hardware)
    page_token_layer = page_bytes_per_token(model, tp, kv_dtype)
    per_token = kv_bytes_per_token(model, tp, kv_dtype)
    if layout and layout.mamba_layers:
        assumptions.append("Mamba/linear-attention state of the hybrid layers is not counted")

    model_max = model.max_context
    # A page of zero bytes would divide by zero below; the facts never give one, but say "unknown" if they do.
    if not page_token_layer or not per_token or layout is None or not layout.attention_layers:
        return MemoryPlan(total, util, util_source, requested, weights, activation, non_torch, cudagraph, overhead,
                          kv_cache, per_token, kv_dtype, block, 0, None, options.max_model_len, None,
                          "given" if options.max_model_len else "model", model_max, mnbt, seqs, weights_fit,
                          None if weights_fit else False, assumptions=tuple(assumptions))

    group = _group_size(model)
    num_blocks = _num_blocks(kv_cache, page_token_layer, block, group)
    need_for = lambda length: _blocks_needed(model, length, block, mnbt, group)  # noqa: E731

    # The plan's KV tokens are a central estimate; vLLM's own figure fell within this band of it on the public
    # start-up records. "Fits" is claimed only when one request still fits at the band's low end.
    sure_blocks = int(num_blocks * KV_TOKENS_BAND[0])
    fit_len = _longest_fitting(need_for, num_blocks, model_max)
    safe_len = _longest_fitting(need_for, sure_blocks, model_max)

    if options.max_model_len:
        mml, mml_source = options.max_model_len, "given"
    elif model_max and fit_len >= model_max:
        mml, mml_source = model_max, "model"
    else:
        mml = (safe_len // 256) * 256 if safe_len >= 256 else safe_len
        mml_source = "reduced"
    fits = weights_fit and mml > 0 and need_for(mml) <= num_blocks
    tight = fits and need_for(mml) > sure_blocks
    planned_len: int | None = mml if mml > 0 else None  # nothing fits: no length to recommend
    tokens = _reported_tokens(model, num_blocks, block, group, mml, mnbt, version)
    tokens_range = (int(tokens * KV_TOKENS_BAND[0]), int(tokens * KV_TOKENS_BAND[1]))

    startup_free = startup_fails = None
    if hardware.source == "probe" and _version(version) >= Version("0.9.2"):
        if hardware.unified_memory:
            startup_free = hardware.host_memory_available_bytes
        elif hardware.memory_used_bytes is not None:
            startup_free = total - hardware.memory_used_bytes
        if startup_free is not None:
            startup_fails = startup_free < requested
    return MemoryPlan(
        total_bytes=total, gpu_memory_utilization=util, utilization_source=util_source, budget_bytes=requested,
        weights_bytes=weights, activation_bytes=activation, non_torch_bytes=non_torch, cudagraph_bytes=cudagraph,
        overhead_bytes=overhead, kv_cache_bytes=kv_cache, kv_bytes_per_token=per_token, kv_cache_dtype=kv_dtype,
        block_size=block, num_blocks=num_blocks, kv_cache_tokens=tokens, max_model_len=planned_len,
        max_model_len_fit=fit_len, max_model_len_source=mml_source, model_max_context=model_max,
        max_num_batched_tokens=mnbt, max_num_seqs=seqs, weights_fit=weights_fit, fits=fits,
        tight=tight, kv_cache_tokens_range=tokens_range, max_model_len_safe=safe_len,
        startup_free_bytes=startup_free, startup_requested_bytes=requested if startup_free is not None else None,
        startup_check_fails=startup_fails, assumptions=tuple(assumptions),
    )


def _num_blocks(kv_cache: int, page_token_layer: int, block: int, group: int) -> int:
    # Every KV group gets the same blocks; one block holds `block` tokens of `group` layers.
    return kv_cache // (page_token_layer * block) // group


def kv_cache_tokens_for(model: ModelFacts, hardware: HardwareFacts, options: PlanOptions, kv_cache_bytes: int,
                        max_model_len: int, max_num_batched_tokens: int) -> int | None:
    """The "GPU KV cache size" vLLM prints for a given KV memory: the KV-layout half of the plan alone (page size,
    KV groups, sliding windows, the version's way of counting), without the memory arithmetic before it."""
    layout = model.attention
    kv_dtype = _effective_kv_dtype(model, options.kv_cache_dtype)
    page_token_layer = page_bytes_per_token(model, options.tensor_parallel_size, kv_dtype)
    if layout is None or not layout.attention_layers or not page_token_layer:
        return None
    block = _block_size(model, hardware)
    group = _group_size(model)
    num_blocks = _num_blocks(kv_cache_bytes, page_token_layer, block, group)
    return _reported_tokens(model, num_blocks, block, group, max_model_len, max_num_batched_tokens,
                            options.engine_version)


def _longest_fitting(need_for: Callable[[int], int], blocks: int, model_max: int | None) -> int:
    """Largest max_model_len whose single request fits in `blocks` (binary search; the model's limit caps it)."""
    lo, hi = 0, model_max or 10_000_000
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if need_for(mid) <= blocks:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _reported_tokens(model: ModelFacts, num_blocks: int, block: int, group: int, mml: int, mnbt: int,
                     version: str | None) -> int:
    """What vLLM prints as "GPU KV cache size: N tokens" (formula by version era)."""
    layout = model.attention
    assert layout is not None
    groups = (math.ceil(layout.full_layers / group) if layout.full_layers else 0) + (
        math.ceil(layout.sliding_layers / group) if layout.sliding_layers else 0)
    if groups <= 1 or not layout.sliding_layers:
        return num_blocks * block
    v = _version(version)
    if v < Version("0.10"):
        return num_blocks * block
    if v < Version("0.25"):
        return num_blocks // groups * block
    per_request = _blocks_needed(model, mml, block, mnbt, group)
    return int(num_blocks / per_request * mml) if per_request else 0
