"""One server across several nodes: start every node's command of the plan over SSH (in the plan's order), look
at every node in parallel (each call with its deadline), and end them all. The nodes' side (the scripts and what
their answers mean) is cluster/launch.py; the state is decided by the pure status.cluster_state."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spark_tui.cluster import launch as remote_launch
from spark_tui.cluster import ssh
from spark_tui.cluster.launch import NodePart, NodeSample
from spark_tui.engines.records import ServerRecord
from spark_tui.errors import ServerStillRunningError, SparkTuiError, UsageError

if TYPE_CHECKING:
    from spark_tui.advisor.types import LaunchPlan
    from spark_tui.cluster.config import ClusterConfig, ClusterNode

LOG_LINES = 400  # of the head server's log, fetched with each look (the copy `logs` and the diagnosis read)


def new_marker(name: str) -> str:
    """The SPARK_TUI_SERVER value of this launch's processes on every node (unique per launch)."""
    return f"spark-tui:{name}:{secrets.token_hex(6)}"


def ask_addresses(config: ClusterConfig, nodes: tuple[ClusterNode, ...]) -> list[tuple[str | None, str | None]]:
    """Each node's IPv4 address on its fast interface, asked over SSH in parallel: (address, None), or (None, why
    not) in one sentence."""
    exe = ssh.ssh_executable()
    deadline = float(config.connect_timeout + 20)

    def one(node: ClusterNode) -> tuple[str | None, str | None]:
        answer = ssh.run_remote(config, node, remote_launch.address_script(node), deadline, exe)
        if answer.timed_out or remote_launch.MARK + "ip" not in answer.stdout:
            return None, f"{node.host} is unreachable: {ssh.unreachable_sentence(config, node, answer, deadline)}"
        address = remote_launch.read_address(answer.stdout)
        if address is None:
            return None, (f"{node.host} has no IPv4 address on {node.interface}; check cluster.interface "
                          "(spark-tui cluster check says more).")
        return address, None

    return _parallel(one, list(nodes))


def engine_version(config: ClusterConfig, node: ClusterNode) -> str | None:
    """The head's vLLM version (`vllm --version` or the image), None when it cannot be said."""
    from spark_tui.cluster import remote

    deadline = float(config.connect_timeout + config.command_timeout)
    answer = ssh.run_remote(config, node, remote.engine_script(node, config.command_timeout), deadline,
                            ssh.ssh_executable())
    facts = remote.NodeFacts(node.host)
    remote.read_engine(facts, node, answer.returncode, answer.stdout, answer.stderr, deadline, "")
    identity = facts.engine_identity
    return identity if identity and not identity.startswith("sha256:") else None


def ssh_commands(config: ClusterConfig, plan: LaunchPlan, name: str, marker: str = "spark-tui:NAME:LAUNCH"
                 ) -> list[tuple[str, str, list[str]]]:
    """(host, role, the exact ssh argv) of every node command, in start order (the dry run prints these)."""
    by_host = {n.host: n for n in config.nodes}
    found = []
    for index, command in enumerate(plan.nodes):
        node = by_host[command.host]
        script = remote_launch.start_script(node, name, index, command.role, command.argv, command.env, marker)
        found.append((command.host, command.role, ssh.ssh_argv(config, node, script)))
    return found


def start(config: ClusterConfig, record: ServerRecord, plan: LaunchPlan, marker: str,
          save: Callable[[], None]) -> None:
    """Start every node command in the plan's order; each started part goes into the record (saved at once, so a
    crash half-way leaves every started part findable). A node that fails: what started is ended, one sentence."""
    exe = ssh.ssh_executable()
    by_host = {n.host: n for n in config.nodes}
    deadline = float(config.connect_timeout + 30)
    record.nodes = []
    for index, command in enumerate(plan.nodes):
        node = by_host.get(command.host)
        if node is None:
            raise UsageError(f"The plan names {command.host}, which is not in [cluster].")
        script = remote_launch.start_script(node, record.name, index, command.role, command.argv, command.env,
                                            marker)
        answer = ssh.run_remote(config, node, script, deadline, exe)
        started = remote_launch.read_started(answer.stdout)
        if started is None:
            if answer.timed_out or answer.returncode == ssh.SSH_FAILED:
                why = f"{node.host} is unreachable: {ssh.unreachable_sentence(config, node, answer, deadline)}"
            else:
                last = (answer.stderr.strip().splitlines() or [f"exit {answer.returncode}"])[-1]
                why = f"starting the {command.role} on {node.host} failed ({last})"
            problems = stop(record, grace=5.0)
            record.nodes = [] if not problems else record.nodes
            save()
            tail = f"; and {problems[0]}" if problems else "; nothing of it was left running"
            raise SparkTuiError(f"{why}{tail}.", "Fix that node (spark-tui cluster check), then launch again.")
        part = NodePart(node.host, command.role, index, node.user, config.ssh_config, marker, started.pid,
                        started.pgid, started.log, started.container, node.runtime, config.connect_timeout)
        record.nodes.append(part.to_json())
        save()


def parts_of(record: ServerRecord) -> list[NodePart]:
    return [p for p in (NodePart.from_json(n) for n in record.nodes or []) if p is not None]


def _by_host(parts: list[NodePart]) -> dict[str, list[NodePart]]:
    grouped: dict[str, list[NodePart]] = {}
    for part in parts:
        grouped.setdefault(part.host, []).append(part)
    return grouped


def _parallel(work: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=len(items), thread_name_prefix="spark-tui-nodes") as pool:
        try:
            return list(pool.map(work, items))
        except BaseException:  # Ctrl-C: end every ssh call now, so the pool's threads return at once
            ssh.kill_all()
            raise


def sample(record: ServerRecord) -> dict[str, NodeSample]:
    """Every node of the server, looked at in parallel (one ssh call each, with its deadline)."""
    grouped = _by_host(parts_of(record))
    if not grouped:
        return {}
    exe = ssh.ssh_executable()

    def one(host: str) -> NodeSample:
        parts = grouped[host]
        config, node = parts[0].reach()
        deadline = float(config.connect_timeout + 15)
        found = NodeSample(host)
        answer = ssh.run_remote(config, node, remote_launch.sample_script(parts, LOG_LINES), deadline, exe)
        if answer.timed_out or remote_launch.MARK + "reached" not in answer.stdout:
            found.reach_problem = ssh.unreachable_sentence(config, node, answer, deadline)
            return found
        remote_launch.read_sample(found, answer.stdout)
        return found

    return dict(zip(grouped, _parallel(one, list(grouped)), strict=True))


def mirror_log(record: ServerRecord, samples: dict[str, NodeSample]) -> None:
    """The head server's log tail, copied into the record's local log (what `logs` and the diagnosis read)."""
    lines = next((s.log for s in samples.values() if s.log), None)
    if lines is None:
        return
    from spark_tui.files import write_text_atomic

    with contextlib.suppress(OSError):  # the copy is a convenience; the state still comes from the nodes
        write_text_atomic(Path(record.log), "\n".join(lines) + "\n")


def node_rows(record: ServerRecord, samples: dict[str, NodeSample]) -> list[dict[str, Any]]:
    """One row per node command: host, role, state (running / exited / unreachable), pid, exit code, the node's
    memory and GPU use, and (when it is not running) why."""
    rows = []
    for part in parts_of(record):
        found = samples.get(part.host)
        alive, code = (found.parts.get(part.index, (False, None)) if found and not found.reach_problem
                       else (False, None))
        state = "unreachable" if found is None or found.reach_problem else "running" if alive else "exited"
        reason = None
        if state == "unreachable":
            reason = f"node {part.host} is unreachable" + (f" ({found.reach_problem})" if found else "")
        elif state == "exited":
            reason = f"the {part.role} on {part.host} exited" + (f" ({code})" if code is not None else "")
        rows.append({
            "host": part.host, "role": part.role, "state": state, "pid": part.pid, "container": part.container,
            "exit_code": code, "memory_available_bytes": found.mem_available if found else None,
            "memory_total_bytes": found.mem_total if found else None,
            "gpu_utilization": found.gpu_utilization if found else None, "reason": reason,
        })
    return rows


def stop(record: ServerRecord, grace: float = 10.0) -> list[str]:
    """End every node's part in parallel; the problems, one sentence each (empty: nothing of it is left)."""
    grouped = _by_host(parts_of(record))
    if not grouped:
        return []
    exe = ssh.ssh_executable()

    def one(host: str) -> str | None:
        parts = grouped[host]
        config, node = parts[0].reach()
        deadline = float(config.connect_timeout + grace + 20)
        answer = ssh.run_remote(config, node, remote_launch.stop_script(parts, grace), deadline, exe)
        if answer.timed_out or remote_launch.MARK + "reached" not in answer.stdout:
            return f"{host} is unreachable: {ssh.unreachable_sentence(config, node, answer, deadline)}"
        left = remote_launch.read_left(answer.stdout)
        if left is None or left > 0:
            return f"{left if left is not None else 'some'} of its processes are still running on {host}"
        return None

    return [p for p in _parallel(one, list(grouped)) if p]


def end(record: ServerRecord, grace: float) -> None:
    problems = stop(record, grace)
    if problems:
        raise ServerStillRunningError(f"{record.name} is not stopped: {'; '.join(problems)}.",
                                      f"Its record is kept; once the node answers, run: spark-tui stop {record.name}")
