"""An upper bound on single-stream decode speed.

Decode is memory-bandwidth bound: every generated token reads the active weights once plus the KV cache of
the context so far. bound = bandwidth ÷ bytes read per token. Real engines reach roughly 60–80 % of it
(llama.cpp's gpt-oss-120b on GB10: ≈59 tok/s measured).

Across nodes the network joins in. Tensor parallel splits every layer over the ranks, so each reads 1/tp of the
bytes at the same time, but each layer then all-reduces its attention and MLP outputs (Megatron-style: two per layer,
one hidden-size vector per token); a ring all-reduce sends 2·(n−1)/n of the vector from each rank. Pipeline parallel
runs the stages one after another for a single stream (no speed-up for one request) and hands one hidden-size vector
per token from stage to stage. Only the bytes are counted, at the interconnect's bandwidth; the latency of each
exchange is not, so across nodes the bound is looser still.
"""

from __future__ import annotations

from spark_tui.advisor.memory import page_bytes_per_token
from spark_tui.advisor.types import PerformanceBound
from spark_tui.hardware.facts import HardwareFacts
from spark_tui.hub.facts import ModelFacts

BOUND_CONTEXT_TOKENS = 4096  # the context length the bound is quoted at


def active_weight_bytes(model: ModelFacts) -> int | None:
    if model.weights_bytes is None:
        return None
    if model.moe and model.params_active and model.params_total:
        # Experts not routed to are not read: scale the checkpoint by the active share of parameters.
        return int(model.weights_bytes * model.params_active / model.params_total)
    if model.moe:
        return None
    return model.weights_bytes


def _kv_read_bytes(model: ModelFacts, context: int, kv_cache_dtype: str) -> int:
    layout = model.attention
    per_layer = page_bytes_per_token(model, 1, kv_cache_dtype)
    if layout is None or per_layer is None:
        return 0
    sliding_ctx = min(context, layout.sliding_window or context)
    return per_layer * (layout.full_layers * context + layout.sliding_layers * sliding_ctx)


ACTIVATION_BYTES = 2  # bf16 activations between ranks and stages


def interconnect_bytes_per_token(model: ModelFacts, hardware: HardwareFacts, tp: int, pp: int) -> int:
    """Bytes one node sends over the network per generated token (0 on one node)."""
    if hardware.nodes <= 1 or not model.hidden_size:
        return 0
    vector = model.hidden_size * ACTIVATION_BYTES
    tp_nodes = min(tp, hardware.nodes) if pp == 1 else max(1, hardware.nodes // pp)  # ranks of a layer on other nodes
    all_reduce = 0
    if tp_nodes > 1:
        layers = model.num_layers or 0
        all_reduce = int(2 * layers * vector * 2 * (tp_nodes - 1) / tp_nodes)
    handoffs = (pp - 1) * vector if pp > 1 else 0
    return all_reduce + handoffs


def decode_bound(model: ModelFacts, hardware: HardwareFacts, tp: int, max_model_len: int | None,
                 kv_cache_dtype: str = "auto", pp: int = 1) -> PerformanceBound:
    weights = active_weight_bytes(model)
    # No bound from a config with absurd values: the active share and the KV cache both come from it.
    if hardware.bandwidth_gbps is None or weights is None or model.problems:
        return PerformanceBound(None, None, None, hardware.bandwidth_gbps)
    context = min(BOUND_CONTEXT_TOKENS, max_model_len or BOUND_CONTEXT_TOKENS)
    kv_dtype = "fp8_ds_mla" if kv_cache_dtype == "auto" and model.model_type == "deepseek_v32" else kv_cache_dtype
    per_token = weights + _kv_read_bytes(model, context, kv_dtype)
    if per_token <= 0:  # nothing to read is no model at all: no bound rather than a division by zero
        return PerformanceBound(None, None, None, hardware.bandwidth_gbps)
    # Pipeline stages take turns on one stream: only tensor parallelism reads in parallel.
    seconds = per_token / (hardware.bandwidth_gbps * 1e9 * max(1, tp))
    network = interconnect_bytes_per_token(model, hardware, tp, pp)
    if network and hardware.interconnect_gbps:
        seconds += network / (hardware.interconnect_gbps * 1e9)
    elif network:  # across nodes with no known network: no honest bound
        return PerformanceBound(None, per_token, context, hardware.bandwidth_gbps, network)
    return PerformanceBound(round(1 / seconds, 1), per_token, context, hardware.bandwidth_gbps, network or None)
