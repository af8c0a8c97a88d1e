"""The advisor's output: plain frozen data that the CLI, the app and the supervisor read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spark_tui.hardware.facts import HardwareFacts
from spark_tui.hub.facts import ModelFacts
from spark_tui.rules.evaluate import Finding

VERDICTS = ("ok", "caution", "incompatible", "unknown")
ENGINES = ("vllm", "trtllm", "llamacpp")


@dataclass(frozen=True)
class ClusterNodes:
    """Where a multi-node launch runs: each node's SSH host name and its address on the fast interface (the head
    first). Unknown addresses are placeholders the user (or `spark-tui cluster check`) fills in."""

    hosts: tuple[str, ...]
    addresses: tuple[str, ...]
    interface: str | None = None
    master_port: int = 29501  # Ray-less: vLLM's --master-port (its default)
    ray_port: int = 6379  # Ray: the head's GCS port (run_cluster.sh's)
    ray_args: tuple[tuple[str, ...], ...] = ()  # Ray: each node's extra `ray start` options ([cluster] settings)
    interfaces: tuple[str | None, ...] = ()  # each node's own fast interface where [cluster] names one per node

    def interface_of(self, rank: int) -> str | None:
        """Node `rank`'s fast interface: its own ([cluster.node.NAME] interface), else the cluster's."""
        own = self.interfaces[rank] if rank < len(self.interfaces) else None
        return own or self.interface

    @property
    def known(self) -> bool:
        """Every address and the interface are real (not multinode.placeholder_nodes' stand-ins)."""
        return self.interface not in (None, "CX7_IF") and not any(a.endswith("_IP") for a in self.addresses)


@dataclass(frozen=True)
class PlanOptions:
    """What the user asked for: engine, version and the launch options that shape memory."""

    engine: str = "vllm"
    engine_version: str | None = None
    engine_version_source: str = "assumed"  # given, installed, assumed
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1  # across nodes: each stage holds a share of the layers
    distributed: str | None = None  # across nodes: "mp" (vLLM's --nnodes, from 0.11.1) or "ray"; None: one node
    cluster: ClusterNodes | None = None  # across nodes: where (hosts and their addresses on the fast interface)
    gpu_memory_utilization: float | None = None  # None: the engine's default (0.85 recommended on GB10)
    max_model_len: int | None = None  # None: the model's maximum, reduced to what fits
    kv_cache_dtype: str = "auto"
    max_num_batched_tokens: int | None = None
    max_num_seqs: int | None = None
    enforce_eager: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    revision: str | None = None
    trust_remote_code: bool = False


@dataclass(frozen=True)
class ObservedMemory:
    """What a launch of the same plan printed on this machine (spark_tui.calibration), when the plan uses it."""

    outcome: str  # started, refused_kv (vLLM refused: the KV cache is too small), oom
    kv_cache_tokens: int | None
    kv_cache_bytes: int | None
    weights_bytes: int | None
    cudagraph_bytes: int | None
    engine_version: str | None
    at: str  # ISO time of the launch
    server: str


@dataclass(frozen=True)
class LlamaCppDetail:
    """The llama.cpp side of a MemoryPlan: the server options the plan is for and its llama.cpp-only terms."""

    kv_cache_bytes: int  # all KV caches (full-attention and sliding-window), all GPUs
    compute_bytes: int  # device + host compute buffers, per GPU
    compute_device_bytes: int  # the `CUDA0 compute buffer size` line
    compute_host_bytes: int  # the `CUDA_Host compute buffer size` line plus the output buffer (pinned host memory)
    cuda_context_bytes: int
    n_ctx: int  # -c as llama.cpp pads it
    n_parallel: int  # -np
    kv_unified: bool
    cache_type_k: str
    cache_type_v: str
    flash_attn: bool
    n_ubatch: int
    n_gpu_layers: str  # "all"
    swa_cells: int | None
    default_parallel: bool  # -np was not given: llama-server's own default (4 unified slots)


@dataclass(frozen=True)
class MemoryPlan:
    """Per GPU, as vLLM reports it. Sizes in bytes."""

    total_bytes: int
    gpu_memory_utilization: float
    utilization_source: str  # given, default, recommended
    budget_bytes: int
    weights_bytes: int
    activation_bytes: int
    non_torch_bytes: int
    cudagraph_bytes: int
    overhead_bytes: int
    kv_cache_bytes: int
    kv_bytes_per_token: int | None
    kv_cache_dtype: str
    block_size: int
    num_blocks: int
    kv_cache_tokens: int | None
    max_model_len: int | None
    max_model_len_fit: int | None
    max_model_len_source: str  # given, model, reduced
    model_max_context: int | None
    max_num_batched_tokens: int
    max_num_seqs: int
    weights_fit: bool
    fits: bool | None
    tight: bool = False  # fits by the central estimate, but not at the low end of kv_cache_tokens_range
    kv_cache_tokens_range: tuple[int, int] | None = None  # where vLLM's own figure is expected to fall
    max_model_len_safe: int | None = None  # longest context that fits at the range's low end
    startup_free_bytes: int | None = None
    startup_requested_bytes: int | None = None
    startup_check_fails: bool | None = None
    assumptions: tuple[str, ...] = ()
    source: str = "plan"  # "observed": a launch with the same model, engine, hardware and options printed these
    observed: ObservedMemory | None = None
    planned: MemoryPlan | None = None  # the model's own plan, when an observation changed this one
    llamacpp: LlamaCppDetail | None = None  # llama.cpp's terms, when the plan is for llama-server


@dataclass(frozen=True)
class PerformanceBound:
    """Decode speed the memory bandwidth allows (an upper bound, not a promise)."""

    decode_tokens_per_s_bound: float | None
    bytes_per_token: int | None
    at_context_tokens: int | None
    bandwidth_gbps: float | None
    interconnect_bytes_per_token: int | None = None  # across nodes: activations sent over the network per token


@dataclass(frozen=True)
class NodeCommand:
    """One command on one node of a multi-node launch (a Ray head or worker, a headless vLLM, the server)."""

    host: str
    argv: tuple[str, ...]
    env: dict[str, str]
    role: str  # "ray-head", "ray-worker", "worker" (vLLM --headless), "server"

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "argv": list(self.argv), "env": dict(self.env), "role": self.role}


@dataclass(frozen=True)
class RuleSetting:
    """A flag or variable that a rule added to a launch plan: every display says which rule it came from."""

    rule: str
    kind: str  # "flag" or "env"
    name: str
    value: str | None  # None for a switch such as --enforce-eager


@dataclass(frozen=True)
class LaunchPlan:
    """One launch, from the advisor to the server's record: the command, environment and everything the launch and
    the watching need. The CLI, the app's dialog and the supervisor pass this plan; nobody re-reads a rendered
    command to recover a field (host and port are fields, whatever the order of the flags in argv)."""

    engine: str
    argv: tuple[str, ...]
    env: dict[str, str]
    notes: tuple[str, ...] = ()
    from_rules: tuple[RuleSetting, ...] = ()
    model: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    engine_version: str | None = None
    runtime: str | None = None  # "local" | "container" once a runtime is chosen for the launch
    image: str | None = None  # the container image, for the container runtime
    bound_tokens_per_s: float | None = None  # the advisor's single-stream decode bound, for `bench`
    # Across nodes: every node's commands in start order (engine cluster first, the server last); empty on one node.
    nodes: tuple[NodeCommand, ...] = ()
    # Files the launch writes into the server's own folder (<state>/files/<name>/): {file name: text}. An argv word
    # equal to a file name becomes that file's path (trtllm-serve's --extra_llm_api_options YAML).
    files: dict[str, str] = field(default_factory=dict)

    def command_line(self) -> str:
        import shlex

        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        cmd = shlex.join(self.argv)
        return f"{env} {cmd}" if env else cmd

    def script(self) -> str:
        """What to run: the command line, or across nodes every node's, in start order, each under a comment that
        says where (what the app shows and copies)."""
        if not self.nodes:
            return self.command_line()
        import shlex

        return "\n".join(f"# on {n.host} ({n.role})\n" + " ".join([*(f"{k}={shlex.quote(v)}" for k, v in n.env.items()),
                                                                   shlex.join(n.argv)]) for n in self.nodes)

    def to_json(self) -> dict[str, Any]:
        """Plain data for a server's record (what the record stores of the plan it was launched from)."""
        return {"engine": self.engine, "argv": list(self.argv), "env": dict(self.env), "notes": list(self.notes),
                "model": self.model, "host": self.host, "port": self.port, "engine_version": self.engine_version,
                "runtime": self.runtime, "image": self.image, "bound_tokens_per_s": self.bound_tokens_per_s,
                "nodes": [n.to_json() for n in self.nodes], "files": dict(self.files)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LaunchPlan | None:
        """A plan read back from a record; None when the data is not one (an older or damaged record)."""
        try:
            plan = cls(engine=str(data["engine"]), argv=tuple(str(a) for a in data["argv"]),
                       env={str(k): str(v) for k, v in dict(data["env"]).items()},
                       notes=tuple(str(n) for n in data.get("notes", ())), model=str(data.get("model", "")),
                       host=str(data["host"]), port=int(data["port"]), engine_version=data.get("engine_version"),
                       runtime=data.get("runtime"), image=data.get("image"),
                       bound_tokens_per_s=data.get("bound_tokens_per_s"),
                       nodes=tuple(NodeCommand(str(n["host"]), tuple(str(a) for a in n["argv"]),
                                               {str(k): str(v) for k, v in dict(n["env"]).items()}, str(n["role"]))
                                   for n in data.get("nodes", ())),
                       files={str(k): str(v) for k, v in dict(data.get("files") or {}).items()})
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        bound = plan.bound_tokens_per_s
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))):
            return None
        if any(v is not None and not isinstance(v, str) for v in (plan.engine_version, plan.runtime, plan.image)):
            return None
        return plan


@dataclass(frozen=True)
class EngineVerdict:
    """One engine's answer: verdict, findings and launch plan."""

    engine: str
    verdict: str
    errors: int
    warnings: int


@dataclass(frozen=True)
class Advice:
    """Everything `check` says about a model on this hardware."""

    verdict: str
    engine: str
    engine_version: str | None
    engine_version_source: str
    model: ModelFacts
    hardware: HardwareFacts
    findings: tuple[Finding, ...]
    memory: MemoryPlan | None
    performance: PerformanceBound
    launch: LaunchPlan | None
    unknowns: tuple[str, ...] = ()
    engines: tuple[EngineVerdict, ...] = field(default=())
    gguf_fits: tuple[Any, ...] = ()  # advisor.gguf_fit.VariantFit for each GGUF variant, by llama.cpp's plan
    nodes_needed: int | None = None  # does not fit one node, but this many (the smallest count planned) would
