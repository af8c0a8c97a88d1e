"""`cluster check`: every node asked in parallel over SSH, then judged; one sentence per failed check saying what
to do.

Checks per node: reachable (BatchMode ssh), engine (vLLM version or image id, equal to the head's), model (in the
node's Hugging Face cache, complete, the head's revision), interface (up, with an IPv4 address), memory
(MemAvailable, nvidia-smi's free memory on a discrete GPU; enough for the node's share of the weights), nccl_env
(NCCL_SOCKET_IFNAME / GLOO_SOCKET_IFNAME select the interface). `judge` is pure: the facts in, the report out."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from spark_tui.cluster import remote, ssh
from spark_tui.cluster.config import ClusterConfig, ClusterNode
from spark_tui.cluster.remote import NodeFacts, Snapshot

GIB = 1024**3
DROP_CACHES = "sudo sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "message": self.message}


@dataclass(frozen=True)
class NodeReport:
    host: str
    head: bool
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "ok": self.ok, "checks": [c.to_json() for c in self.checks]}


@dataclass(frozen=True)
class ClusterReport:
    nodes: tuple[NodeReport, ...]
    model: str | None = None

    @property
    def ok(self) -> bool:
        return all(n.ok for n in self.nodes)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "nodes": [n.to_json() for n in self.nodes]}


# ---------------------------------------------------------------------------------------------- asking the nodes

def gather(config: ClusterConfig, node: ClusterNode, model: str | None, ssh_exe: str = "ssh") -> NodeFacts:
    """Ask one node (two ssh calls: the facts, then the engine). Never raises for anything the node does."""
    facts = NodeFacts(node.host)
    deadline = float(config.connect_timeout + config.command_timeout)
    answer = ssh.run_remote(config, node, remote.facts_script(node, model, config.command_timeout), deadline,
                            ssh_exe)
    facts.seconds = answer.seconds
    if answer.timed_out or remote.MARK + "reached" not in answer.stdout:
        facts.reach_problem = ssh.unreachable_sentence(config, node, answer, deadline)
        return facts
    remote.read_facts(facts, answer.stdout)
    engine = ssh.run_remote(config, node, remote.engine_script(node, config.command_timeout), deadline, ssh_exe)
    remote.read_engine(facts, node, engine.returncode, engine.stdout, engine.stderr, deadline,
                       ssh.how_to_reach(config, node))
    return facts


def planned_commands(config: ClusterConfig, model: str | None = None) -> list[list[str]]:
    """The argv of every ssh call `check_cluster` makes, in order (two per node), for `--dry-run` and the README."""
    argvs = []
    for node in config.nodes:
        argvs.append(ssh.ssh_argv(config, node, remote.facts_script(node, model, config.command_timeout)))
        argvs.append(ssh.ssh_argv(config, node, remote.engine_script(node, config.command_timeout)))
    return argvs


def check_cluster(config: ClusterConfig, model: str | None = None) -> ClusterReport:
    """Ask every node at once (one thread each; every ssh call has its deadline), then judge."""
    ssh_exe = ssh.ssh_executable()
    results: dict[str, NodeFacts] = {}
    lock = threading.Lock()

    def one(node: ClusterNode) -> None:
        found = gather(config, node, model, ssh_exe)
        with lock:
            results[node.host] = found

    with ThreadPoolExecutor(max_workers=len(config.nodes), thread_name_prefix="spark-tui-cluster") as pool:
        try:
            for future in [pool.submit(one, node) for node in config.nodes]:
                future.result()
        except BaseException:  # Ctrl-C: end every ssh call now, so the pool's threads return at once
            ssh.kill_all()
            raise
    return judge(config, results, model)


# ------------------------------------------------------------------------------------------------------- judging

def judge(config: ClusterConfig, facts: dict[str, NodeFacts], model: str | None) -> ClusterReport:
    head = config.head
    head_facts = facts[head.host]
    reference = _reference_engine(config, facts)
    head_snapshot = _complete_snapshot(head_facts) if model and head_facts.reach_problem is None else None
    reports = []
    for node in config.nodes:
        found = facts[node.host]
        if found.reach_problem:
            reports.append(NodeReport(node.host, node is head, (Check("reachable", False, found.reach_problem),)))
            continue
        checks = [Check("reachable", True, f"{ssh.how_to_reach(config, node)}: answered in {found.seconds:.1f} s")]
        checks.append(_engine_check(config, node, found, reference))
        if model:
            checks.append(_model_check(config, node, found, model, head_snapshot if node is not head else None))
        checks.append(_interface_check(node, found))
        checks.append(_memory_check(config, found, model))
        checks.append(_env_check(node, found))
        reports.append(NodeReport(node.host, node is head, tuple(checks)))
    return ClusterReport(tuple(reports), model)


def _what(node: ClusterNode) -> str:
    return f"image {node.image}" if node.runtime == "container" else "vLLM"


def _reference_engine(config: ClusterConfig, facts: dict[str, NodeFacts]) -> tuple[str, str] | None:
    """(host, identity) every node must match: the head's, else the first node that has one."""
    for node in config.nodes:
        identity = facts[node.host].engine_identity
        if identity:
            return node.host, identity
    return None


def _short(identity: str) -> str:
    return identity[:19] if identity.startswith("sha256:") else identity


def _engine_check(config: ClusterConfig, node: ClusterNode, found: NodeFacts,
                  reference: tuple[str, str] | None) -> Check:
    if found.engine_problem or not found.engine_identity:
        return Check("engine", False, found.engine_problem or "the engine's version could not be read.")
    mine = found.engine_identity
    kinds = {n.runtime for n in config.nodes}
    if len(kinds) > 1:  # a version and an image id cannot be compared: one runtime for the whole cluster
        return Check("engine", False, f"{_what(node)} {_short(mine)} here, but the nodes mix local and container "
                                      "runtimes; use the same runtime (and version) on every node.")
    assert reference is not None
    ref_host, ref_identity = reference
    if mine == ref_identity:
        label = f"vLLM {mine} ({node.vllm})" if node.runtime == "local" else f"{node.image} {_short(mine)}"
        return Check("engine", True, f"{label}, the same on every node that answered")
    if node.runtime == "local":
        return Check("engine", False, f"vLLM {mine} here but {ref_identity} on {ref_host}; install vLLM "
                                      f"{ref_identity} here (or one version everywhere): every node must run the "
                                      "same engine.")
    return Check("engine", False, f"image id {_short(mine)} here but {_short(ref_identity)} on {ref_host}; pull the "
                                  f"same image on every node (docker pull {node.image}, or pin a digest).")


def _is_complete(snapshot: Snapshot) -> tuple[bool, list[str]]:
    """Whether a snapshot holds a config and all its weights; the missing files otherwise."""
    names = set(snapshot.files)
    missing = []
    if "config.json" not in names and not any(n.endswith(".gguf") for n in names):
        missing.append("config.json")
    if snapshot.shards:
        missing += sorted(snapshot.shards - names)
    elif not any(n.endswith(remote.WEIGHT_SUFFIXES) for n in names):
        missing.append("the weight files")
    return not missing, missing


def _chosen_snapshot(found: NodeFacts) -> Snapshot | None:
    """refs/main's snapshot when there is one, else the most complete one."""
    if found.ref_main and found.ref_main in found.snapshots:
        return found.snapshots[found.ref_main]
    if not found.snapshots:
        return None
    return max(found.snapshots.values(), key=lambda s: (_is_complete(s)[0], len(s.files)))


def _complete_snapshot(found: NodeFacts) -> Snapshot | None:
    snapshot = _chosen_snapshot(found)
    return snapshot if snapshot and _is_complete(snapshot)[0] else None


def weights_bytes(snapshot: Snapshot) -> int:
    return sum(size for name, size in snapshot.files.items() if name.endswith(remote.WEIGHT_SUFFIXES))


def _pull_command(config: ClusterConfig, node: ClusterNode, found: NodeFacts, model: str) -> str:
    reach = ssh.how_to_reach(config, node)
    if "spark-tui" not in found.tools and "hf" in found.tools:
        return f"{reach} hf download {model}"
    return f"{reach} spark-tui pull {model}"


def _model_check(config: ClusterConfig, node: ClusterNode, found: NodeFacts, model: str,
                 head_snapshot: Snapshot | None) -> Check:
    where = found.hub or "its Hugging Face cache"
    pull = _pull_command(config, node, found, model)
    snapshot = _chosen_snapshot(found)
    if snapshot is None:
        return Check("model", False, f"{model} is not in {node.host}'s Hugging Face cache ({where}); fetch it "
                                     f"there: {pull}")
    complete, missing = _is_complete(snapshot)
    if not complete:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        return Check("model", False, f"{model} in {where} (snapshot {snapshot.commit[:12]}) lacks {shown}; finish "
                                     f"it: {pull}")
    if head_snapshot is not None and snapshot.commit != head_snapshot.commit:
        return Check("model", False, f"{model} here is revision {snapshot.commit[:12]} but "
                                     f"{head_snapshot.commit[:12]} on the head; fetch the head's revision: {pull} "
                                     f"--revision {head_snapshot.commit}")
    return Check("model", True, f"{model} in {where} (snapshot {snapshot.commit[:12]}, "
                                f"{weights_bytes(snapshot) / GIB:.1f} GiB of weights)")


def _interface_check(node: ClusterNode, found: NodeFacts) -> Check:
    name = node.interface
    fix_name = (f"name the node's high-speed interface (as `ip link` lists it; on a Spark the CX-7 port that "
                f"ibdev2netdev shows Up) in cluster.interface or cluster.node.{node.host}.interface.")
    try:
        data = json.loads(found.ip_output)
    except ValueError:
        data = None
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        text = found.ip_output.strip().splitlines()
        if text and "not found" in text[-1] and "ip" in text[-1]:
            return Check("interface", False, "the `ip` command is missing there; install iproute2.")
        return Check("interface", False, f"there is no interface {name} on {node.host}; {fix_name}")
    link = data[0]
    flags = link.get("flags") or []
    state = str(link.get("operstate", "UNKNOWN"))
    # Loopback and some drivers report UNKNOWN while the link is up: LOWER_UP says the carrier is there.
    up = state == "UP" or (state == "UNKNOWN" and "UP" in flags and "LOWER_UP" in flags)
    if not up:
        return Check("interface", False, f"{name} is {state.lower()}; connect its cable and bring it up "
                                         f"(sudo ip link set {name} up), or name the port that is Up.")
    addresses = [f"{a.get('local')}/{a.get('prefixlen')}" for a in link.get("addr_info") or []
                 if isinstance(a, dict) and a.get("family") == "inet"]
    if not addresses:
        return Check("interface", False, f"{name} is up but has no IPv4 address; give it one (netplan, as NVIDIA's "
                                         "connect-two-sparks playbook does).")
    return Check("interface", True, f"{name} up, {', '.join(addresses)}")


def _memory_check(config: ClusterConfig, found: NodeFacts, model: str | None) -> Check:
    if found.mem_available is None:
        return Check("memory", False, "MemAvailable could not be read from /proc/meminfo there; cluster nodes "
                                      "must be Linux machines (DGX OS, Ubuntu).")
    total = f" of {found.mem_total / GIB:.1f} GiB" if found.mem_total else ""
    discrete = [(i, free, tot) for i, free, tot in found.gpus if free is not None]
    if discrete:
        gpus = "; ".join(f"GPU {i}: {free / GIB:.1f} GiB free" + (f" of {tot / GIB:.1f} GiB" if tot else "")
                         for i, free, tot in discrete)
        usable = sum(free for _, free, _ in discrete if free is not None)
        text = f"{gpus}; host {found.mem_available / GIB:.1f} GiB available{total}"
    else:
        usable = found.mem_available
        text = f"{found.mem_available / GIB:.1f} GiB available{total}" + (" (unified memory)" if found.gpus else "")
    snapshot = _complete_snapshot(found) if model else None
    if snapshot is not None:
        share = weights_bytes(snapshot) / len(config.nodes)
        if share > usable:
            fix = (f"free memory there (stop other servers; on unified memory drop the page cache: {DROP_CACHES})"
                   if not discrete else "free GPU memory there (stop what uses it) or add nodes")
            return Check("memory", False, f"{text}, but this node's share of {model}'s weights is "
                                          f"{share / GIB:.1f} GiB; {fix}.")
        text += f"; this node's share of the weights: {share / GIB:.1f} GiB"
    return Check("memory", True, text)


def selects(value: str, interface: str, exact_only: bool = False) -> bool:
    """Whether an NCCL_SOCKET_IFNAME-style value selects `interface`, as NCCL reads it: a comma-separated list of
    prefixes, `=` first for exact names, `^` first to exclude, an optional `:port` per item. Gloo takes exact
    names only (`exact_only`)."""
    text = value.strip()
    if not text:
        return False
    exclude = text.startswith("^")
    text = text[1:] if exclude else text
    exact = exact_only or text.startswith("=")
    text = text[1:] if text.startswith("=") else text
    items = [item.split(":", 1)[0] for item in text.split(",") if item]
    hit = any(interface == item if exact else interface.startswith(item) for item in items)
    return hit != exclude


def _env_check(node: ClusterNode, found: NodeFacts) -> Check:
    name = node.interface
    problems, shown = [], []
    for var in remote.ENV_NAMES:
        value = found.env.get(var)
        if value is None:
            problems.append(f"{var} is not set")
        elif not selects(value, name, exact_only=var == "GLOO_SOCKET_IFNAME"):
            problems.append(f"{var}={value} does not select {name}")
        else:
            shown.append(f"{var}={value}")
    if problems:
        return Check("nccl_env", False, f"{' and '.join(problems)} in a non-interactive ssh shell there; set "
                                        f"NCCL_SOCKET_IFNAME={name} and GLOO_SOCKET_IFNAME={name} where such shells "
                                        "read them (/etc/environment, or the top of ~/.bashrc, before its "
                                        "interactive-only return).")
    return Check("nccl_env", True, ", ".join(shown))
