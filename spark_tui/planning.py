"""What `check`, `serve` and the app ask the advisor: a request as plain data in, Advice out.

The request names the model, the hardware and the options the way a user gives them; this module loads the facts,
the rules, the engine version and what earlier launches here printed, and calls the (pure) advisor."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from spark_tui.errors import UsageError


@dataclass(frozen=True)
class AdviceRequest:
    model: str
    revision: str | None = None
    engine: str = "vllm"
    engine_version: str | None = None  # None: the installed one, else the newest the rules know
    hardware: str = "auto"
    gpus: int | None = None
    gpu_memory_gib: float | None = None
    tensor_parallel_size: int = 1
    nodes: int = 1  # machines like this one, planned together on vLLM's multi-node engine
    layout: str = "auto"  # across nodes: "tp" (tensor parallel over all GPUs), "pp" (a pipeline stage per node)
    distributed: str = "auto"  # across nodes: "mp" (vLLM's --nnodes), "ray", or auto (mp where the version has it)
    # hosts, addresses, interface; or a whole ClusterNodes (serve --nodes: ports and Ray options from [cluster])
    cluster: tuple[tuple[str, ...], tuple[str, ...], str | None] | Any = None
    gpu_memory_utilization: float | None = None
    max_model_len: int | None = None
    kv_cache_dtype: str = "auto"
    max_num_batched_tokens: int | None = None
    max_num_seqs: int | None = None
    enforce_eager: bool = False
    trust_remote_code: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    rules: tuple[Path, ...] = ()  # extra rules files or folders
    offline: bool = False
    refresh: bool = False
    gguf_file: str | None = None  # GGUF repos: the variant to plan for, by file name …
    quant: str | None = None  # … or by quant type (Q4_K_M); neither: llama.cpp's -hf default


def load_rules(extra: list[Path] | tuple[Path, ...] | None) -> Any:
    """The active rules plus the user's; a broken user file is in `.problems` (the caller says them), the other
    rules still apply."""
    from spark_tui.rules import load_all_rules

    return load_all_rules(list(extra) if extra else None)


def resolve_engine_version(engine: str, given: str | None) -> tuple[str, str]:
    """(version, where it came from: given, installed or assumed)."""
    from packaging.version import InvalidVersion, Version

    from spark_tui.engines.versions import installed_version, known_engines

    if given:
        try:
            Version(given)
        except InvalidVersion:
            raise UsageError(f"--engine-version '{given}' is not a version number (e.g. 0.12.0).") from None
        return given, "given"
    installed = installed_version(engine)
    if installed:
        return installed, "installed"
    return known_engines()[engine].newest_known, "assumed"


_LLAMACPP_KV = ("f16", "bf16", "f32", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl")  # common/arg.cpp
_BOTH_KV = ("auto", "float16", "bfloat16")


def _check_kv_dtype(engine: str, dtype: str) -> None:
    """A KV cache type the chosen engine does not have is a usage error, said in one sentence."""
    if dtype in _BOTH_KV:
        return
    if engine == "llamacpp" and dtype not in _LLAMACPP_KV:
        raise UsageError(f"llama.cpp has no KV cache type '{dtype}'.",
                         f"Use one of {', '.join(_LLAMACPP_KV)} with --engine llamacpp.")
    if engine != "llamacpp" and dtype in _LLAMACPP_KV:
        raise UsageError(f"--kv-cache-dtype {dtype} is a llama.cpp cache type, not one {engine} has.",
                         "Use it with --engine llamacpp, or one of auto, fp8, bfloat16 for vLLM.")


def _check_multinode(request: AdviceRequest) -> None:
    if request.engine != "vllm":
        raise UsageError(f"Across nodes spark-tui plans vLLM's multi-node serving only, not {request.engine}.",
                         "Use --engine vllm, or --nodes 1.")
    if request.layout not in ("auto", "tp", "pp"):
        raise UsageError(f"--layout must be auto, tp or pp, not '{request.layout}'.")
    if request.nodes > 64:
        raise UsageError(f"--nodes must be between 1 and 64, not {request.nodes}.")


def _cluster(request: AdviceRequest, version: str) -> tuple[Any, str | None]:
    """Where a multi-node launch runs (the [cluster] settings' nodes, else placeholders) and how (mp or ray)."""
    if request.nodes <= 1:
        return None, None
    from spark_tui.advisor.multinode import choose_mode, placeholder_nodes
    from spark_tui.advisor.types import ClusterNodes

    if request.distributed not in ("auto", "mp", "ray"):
        raise UsageError(f"--distributed must be auto, mp or ray, not '{request.distributed}'.")
    mode = choose_mode(version, request.distributed)
    if mode == "mp" and request.distributed == "mp":
        from spark_tui.advisor.multinode import rayless

        if not rayless(version):
            raise UsageError(f"vLLM {version} has no Ray-less multi-node mode (--nnodes came in 0.11.1).",
                             "Use --distributed ray, or a newer vLLM.")
    if isinstance(request.cluster, ClusterNodes):
        if len(request.cluster.hosts) < request.nodes:
            raise UsageError(f"--nodes {request.nodes} needs that many nodes in [cluster]; it lists "
                             f"{len(request.cluster.hosts)}.")
        return request.cluster, mode
    if request.cluster is not None:
        hosts, addresses, interface = request.cluster
        if len(hosts) < request.nodes:
            raise UsageError(f"--nodes {request.nodes} needs that many nodes in [cluster]; it lists {len(hosts)}.")
        return ClusterNodes(hosts[:request.nodes], addresses[:request.nodes], interface), mode
    return placeholder_nodes(request.nodes), mode


def advise_request(request: AdviceRequest, rules: Any = None) -> Any:
    """Facts + hardware + rules → Advice. `rules`: a loaded rules result (else loaded here)."""
    from spark_tui.advisor import PlanOptions, advise
    from spark_tui.calibration import for_model  # what launches here printed: one more input, like the rules
    from spark_tui.engines.versions import known_engines
    from spark_tui.hardware import resolve_hardware
    from spark_tui.hub import load_model_facts

    rules = rules if rules is not None else load_rules(request.rules)
    tp = request.tensor_parallel_size
    if request.nodes > 1:
        _check_multinode(request)
        hardware = replace(resolve_hardware(request.hardware, gpus=request.gpus,
                                            gpu_memory_gib=request.gpu_memory_gib), nodes=request.nodes)
    else:
        hardware = resolve_hardware(request.hardware, gpus=request.gpus or (tp if tp > 1 else None),
                                    gpu_memory_gib=request.gpu_memory_gib)
    if tp > hardware.gpus * hardware.nodes:
        where = f"{hardware.nodes} nodes of {hardware.gpus}" if hardware.nodes > 1 else f"{hardware.gpus}"
        raise UsageError(f"--tensor-parallel-size {tp} needs that many GPUs; {hardware.name} has {where}.",
                         "Pass --gpus N (per node) or --nodes N to plan for more.")
    model = load_model_facts(request.model, request.revision, offline=request.offline, refresh=request.refresh,
                             gguf_file=request.gguf_file, quant=request.quant)
    pp = 1
    if request.nodes > 1:
        from spark_tui.advisor.multinode import choose_layout, tp_problem

        tp, pp, _ = choose_layout(model, request.nodes, hardware.gpus, request.layout, tp)
        problem = tp_problem(model, tp)
        if problem:
            raise UsageError(f"vLLM cannot split {model.id} over {tp} tensor-parallel ranks: {problem}.",
                             "Use --layout pp (a pipeline stage per node), or another number of nodes.")
    if request.max_model_len and model.max_context and request.max_model_len > model.max_context:
        raise UsageError(f"--max-model-len {request.max_model_len} is larger than {model.id} allows "
                         f"({model.max_context} tokens).", f"Use --max-model-len {model.max_context} or less.")
    _check_kv_dtype(request.engine, request.kv_cache_dtype)
    version, source = resolve_engine_version(request.engine, request.engine_version)
    cluster, mode = _cluster(request, version)
    options = PlanOptions(
        engine=request.engine, engine_version=version, engine_version_source=source, tensor_parallel_size=tp,
        pipeline_parallel_size=pp, distributed=mode, cluster=cluster,
        gpu_memory_utilization=request.gpu_memory_utilization, max_model_len=request.max_model_len,
        kv_cache_dtype=request.kv_cache_dtype, max_num_batched_tokens=request.max_num_batched_tokens,
        max_num_seqs=request.max_num_seqs, enforce_eager=request.enforce_eager, host=request.host,
        port=request.port, revision=request.revision, trust_remote_code=request.trust_remote_code,
    )
    newest = {name: info.newest_known for name, info in known_engines().items()}
    observations = tuple(for_model(model.id)) if request.engine == "vllm" else ()
    return advise(model, hardware, options, rules.rules, engine_versions=newest, observations=observations)
