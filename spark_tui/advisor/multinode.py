"""The commands that run one vLLM server across several nodes, as vLLM and NVIDIA's playbooks run it: spark-tui
plans, starts and watches vLLM's own multi-node engine and never distributes anything itself.

Two ways, by vLLM version (checked in the release wheels):
- Ray-less ("mp"): `vllm serve … --nnodes N --node-rank R --master-addr HEAD [--master-port P]` on every node, the
  others with `--headless`. These flags first ship in vLLM 0.11.1 (vllm-project/vllm PR #23691 "Support MP Executor
  for multi node distributed inference"); master_port defaults to 29501 (vllm/config/parallel.py).
- Ray: `ray start --head` on the head and `ray start --address HEAD:6379` on the others (vLLM's
  examples/ray_serving/run_cluster.sh), then `vllm serve … --distributed-executor-backend ray` on the head. With one
  GPU per node vLLM only picks Ray when told to (vllm/config/parallel.py: "to use "ray" you must manually set
  distributed_executor_backend to "ray""). Newer NGC images ship without Ray (NVIDIA's vLLM playbook), so the
  Ray-less way is preferred where the version has it.

Every node gets the network variables of NVIDIA's two-Spark vLLM playbook (nvidia/vllm/README.md, "Run on two
Sparks"): VLLM_HOST_IP (the node's own address on the fast interface, which must be the one Ray registered),
NCCL_SOCKET_IFNAME, GLOO_SOCKET_IFNAME, TP_SOCKET_IFNAME, UCX_NET_DEVICES, OMPI_MCA_btl_tcp_if_include and
MASTER_ADDR."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from spark_tui.advisor.types import ClusterNodes, NodeCommand
from spark_tui.hub.facts import ModelFacts

RAYLESS_FROM = Version("0.11.1")
RAY_PORT = 6379  # run_cluster.sh's head port
MASTER_PORT = 29501  # vLLM's default --master-port


INTERFACE_PLACEHOLDER = "CX7_IF"  # the fast interface's name, e.g. enp1s0f1np1 (ibdev2netdev shows which is Up)


def placeholder_nodes(count: int) -> ClusterNodes:
    return ClusterNodes(tuple(f"node{i + 1}" for i in range(count)), tuple(f"NODE{i + 1}_IP" for i in range(count)),
                        INTERFACE_PLACEHOLDER)


def tp_problem(model: ModelFacts, tp: int) -> str | None:
    """Why vLLM refuses `tp` tensor-parallel ranks for this model, or None. vLLM requires the attention heads to
    divide evenly ("Total number of attention heads (…) must be divisible by tensor parallel size (…)",
    vllm/config/model.py verify_with_parallel_config); KV heads are split when there are at least tp of them and
    replicated when there are fewer, so tp must then be a multiple of them."""
    layout = model.attention
    if tp <= 1 or layout is None:
        return None
    heads, kv = layout.num_attention_heads, layout.num_kv_heads
    if heads and heads % tp:
        return f"its {heads} attention heads do not split over {tp} tensor-parallel ranks"
    if kv and layout.kind != "mla" and (kv % tp if kv >= tp else tp % kv):
        return f"its {kv} KV heads do not split over {tp} tensor-parallel ranks"
    return None


def choose_layout(model: ModelFacts, nodes: int, gpus_per_node: int, layout: str, tp: int = 1,
                  ) -> tuple[int, int, str | None]:
    """(tensor parallel, pipeline parallel, a note) across `nodes`. "tp": every GPU of every node in one
    tensor-parallel group, as NVIDIA's two-Spark playbook runs it (--tensor-parallel-size 2); "pp": tensor parallel
    inside a node and one pipeline stage per node, vLLM's advice for nodes joined by a slower network (docs:
    serving/parallelism_scaling.md). auto: tp with one GPU per node (a Spark) when the heads split that way, else
    pp. An explicit -tp: pipeline stages make up the rest."""
    if tp > 1:
        return tp, max(1, nodes * gpus_per_node // tp), None
    world = nodes * gpus_per_node
    if layout == "tp" or (layout == "auto" and gpus_per_node == 1):
        problem = tp_problem(model, world)
        if problem is None or layout == "tp":
            return world, 1, None
        return gpus_per_node, nodes, f"pipeline parallel across the nodes: {problem}"
    return gpus_per_node, nodes, None


def rayless(version: str | None) -> bool:
    """The version has the Ray-less multi-node flags (None: the newest the rules know, which has them)."""
    if version is None:
        return True
    try:
        return Version(version) >= RAYLESS_FROM
    except InvalidVersion:
        return False


def choose_mode(version: str | None, requested: str = "auto") -> str:
    """ "mp" (Ray-less) or "ray": what the user asked, else Ray-less where the version has it."""
    if requested in ("mp", "ray"):
        return requested
    return "mp" if rayless(version) else "ray"


def network_env(interface: str | None, own: str, head: str) -> dict[str, str]:
    env = {"VLLM_HOST_IP": own, "MASTER_ADDR": head}
    if interface:
        for name in ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME", "TP_SOCKET_IFNAME", "UCX_NET_DEVICES",
                     "OMPI_MCA_btl_tcp_if_include"):
            env[name] = interface
    return env


def vllm_node_commands(server_argv: tuple[str, ...], env: dict[str, str], nodes: ClusterNodes,
                       mode: str) -> tuple[NodeCommand, ...]:
    """Every node's command in start order: the engine's cluster (Ray, or vLLM's headless ranks), the server last
    (on the head)."""
    head = nodes.addresses[0]
    count = len(nodes.hosts)
    commands: list[NodeCommand] = []
    if mode == "mp":
        common = ("--nnodes", str(count), "--master-addr", head, "--master-port", str(nodes.master_port))
        for rank in range(1, count):
            commands.append(NodeCommand(nodes.hosts[rank], (*server_argv, *common, "--node-rank", str(rank),
                                                            "--headless"),
                                        {**env, **network_env(nodes.interface_of(rank), nodes.addresses[rank], head)},
                                        "worker"))
        commands.append(NodeCommand(nodes.hosts[0], (*server_argv, *common, "--node-rank", "0"),
                                    {**env, **network_env(nodes.interface_of(0), head, head)}, "server"))
        return tuple(commands)
    def extra(rank: int) -> tuple[str, ...]:
        return nodes.ray_args[rank] if rank < len(nodes.ray_args) else ()

    commands.append(NodeCommand(nodes.hosts[0], ("ray", "start", "--head", f"--node-ip-address={head}",
                                                 f"--port={nodes.ray_port}", *extra(0), "--block"),
                                network_env(nodes.interface_of(0), head, head), "ray-head"))
    for rank in range(1, count):
        own = nodes.addresses[rank]
        commands.append(NodeCommand(nodes.hosts[rank], ("ray", "start", f"--address={head}:{nodes.ray_port}",
                                                        f"--node-ip-address={own}", *extra(rank), "--block"),
                                    network_env(nodes.interface_of(rank), own, head), "ray-worker"))
    # RAY_ADDRESS: vLLM's ray.init() joins this cluster, not whatever `address="auto"` would find on the head.
    commands.append(NodeCommand(nodes.hosts[0], (*server_argv, "--distributed-executor-backend", "ray"),
                                {**env, **network_env(nodes.interface_of(0), head, head),
                                 "RAY_ADDRESS": f"{head}:{nodes.ray_port}"}, "server"))
    return tuple(commands)
