"""One server across several nodes, on the nodes' side: what spark-tui runs over SSH to start each node's part of
the plan (its NodeCommand), to look at it, and to end it. Fixed POSIX-sh scripts built from validated values with
shlex.quote only; answers are marker sections (cluster/remote.py) read by pure functions.

Start: a node's command runs detached so that it outlives the SSH session, as the single-node runner does here:
`setsid sh -c '"$@"; echo $? >EXIT' EXIT env K=V … ARGV </dev/null >>LOG 2>&1 &` in its own session (its pid is its
process group), its output in a per-server folder under the node user's spark-tui state dir, its exit code in a file
beside it (the wrapper writes it when the command ends, so a worker killed by SIGKILL says 137). Every process of it
carries SPARK_TUI_SERVER=MARKER in its environment (Ray's raylet and workers inherit it, even those Ray puts in other
process groups), so stop finds all of them again from /proc/*/environ. With the container runtime the node runs
`docker run -d --name spark-tui-NAME-nodeK --network host …` instead, and docker ends it.

Stop: SIGTERM to every recorded group and every marked process, SIGKILL to what is left after the grace period,
then a count of marked processes (0 = stopped)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from spark_tui.cluster import remote
from spark_tui.cluster.config import ClusterConfig, ClusterNode, host_problem
from spark_tui.cluster.remote import MARK

MARKER_VAR = "SPARK_TUI_SERVER"  # engines/processes.py's MARKER: the same variable on every node
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_MARKER = re.compile(r"^[A-Za-z0-9:._@/-]{1,200}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
STATE = '"${SPARK_TUI_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/spark-tui}"'


def container_name(name: str, index: int) -> str:
    return f"spark-tui-{name}-node{index}"


def folder(name: str) -> str:
    """The node's folder for this server, as a word of the remote shell (the node's own state dir)."""
    return f'{STATE}/nodes/{shlex.quote(name)}'


def executable(node: ClusterNode, program: str) -> str:
    """`vllm` is the node's vllm setting; `ray` is the ray beside it (Ray is installed into vLLM's environment),
    else the node's PATH."""
    if program == "vllm":
        return node.vllm
    if program == "ray" and "/" in node.vllm:
        return node.vllm.rsplit("/", 1)[0] + "/ray"
    return program


def _word(value: str) -> str:
    return remote._remote_path(value) if value.startswith("~") else shlex.quote(value)


def start_script(node: ClusterNode, name: str, index: int, role: str, argv: tuple[str, ...], env: dict[str, str],
                 marker: str) -> str:
    """Start one node command detached; prints `MARK started PID PGID LOG` (or `MARK container ID`)."""
    if not _NAME.match(name) or not _MARKER.match(marker):
        raise ValueError("server name or marker not safe")
    bad = [k for k in env if not _ENV_NAME.match(k)]
    if bad:
        raise ValueError(f"not an environment variable name: {bad[0]!r}")
    q = shlex.quote
    program = executable(node, argv[0])
    base = f"{role}-{index}"
    lines = ['PATH="$PATH:/usr/sbin:/sbin"; export PATH', f"d={folder(name)}", 'mkdir -p "$d" || exit 3']
    if node.runtime == "container":
        assert node.image is not None
        words = ["docker", "run", "-d", "--name", container_name(name, index), "--network", "host", "--ipc", "host",
                 "--gpus", "all", "--shm-size", "10.24g", "-e", f"{MARKER_VAR}={marker}"]
        for key, value in env.items():
            words += ["-e", f"{key}={value}"]
        words += ["-v", "HFCACHE:/root/.cache/huggingface", node.image, *argv]
        command = " ".join(q(w) if w != "HFCACHE" else '"${HF_HOME:-$HOME/.cache/huggingface}"' for w in words)
        lines += [f'docker rm -f {q(container_name(name, index))} >/dev/null 2>&1', f"id=$({command}) || exit 4",
                  f'echo "{MARK}container $id"']
        return _one_line(lines)
    command = " ".join(["env", *(q(f"{k}={v}") for k, v in env.items()), _word(program),
                        *(q(a) for a in argv[1:])])
    lines += [
        f'log="$d"/{q(base + ".log")}; ex="$d"/{q(base + ".exit")}; rm -f "$ex"',
        f"{MARKER_VAR}={q(marker)}; export {MARKER_VAR}",
        # Its own session: the SSH session ending (or the launching shell dying) never reaches it.
        "setsid sh -c '\"$@\"; echo $? >\"$0\"' \"$ex\" " + command + ' </dev/null >>"$log" 2>&1 &',
        "pid=$!",
        'pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d " "); [ -n "$pgid" ] || pgid=$pid',
        f'echo "{MARK}started $pid $pgid $log"',
    ]
    return _one_line(lines)


def _one_line(lines: list[str]) -> str:
    """The script as one line (what the dry run prints is one ssh command per node)."""
    return "".join(line + (" " if line.endswith("&") else "; ") for line in lines).rstrip("; ")


@dataclass(frozen=True)
class Started:
    pid: int | None
    pgid: int | None
    log: str | None
    container: str | None


def read_started(text: str) -> Started | None:
    for line in text.splitlines():
        if line.startswith(MARK + "started "):
            words = line[len(MARK + "started "):].split(" ", 2)
            if len(words) == 3 and words[0].isdigit() and words[1].isdigit():
                return Started(int(words[0]), int(words[1]), words[2], None)
        if line.startswith(MARK + "container "):
            ident = line[len(MARK + "container "):].strip()
            if re.fullmatch(r"[0-9a-f]{12,64}", ident):
                return Started(None, None, None, ident)
    return None


def address_script(node: ClusterNode) -> str:
    """The node's IPv4 address on its fast interface (`ip -j -4 addr show dev IF`)."""
    return ('PATH="$PATH:/usr/sbin:/sbin"; export PATH\n'
            f'echo "{MARK}ip"; ip -j -4 addr show dev {shlex.quote(node.interface)} 2>&1\n')


def read_address(text: str) -> str | None:
    import json

    try:
        data = json.loads("\n".join(remote.sections(text).get("ip", [])))
    except ValueError:
        return None
    for link in data if isinstance(data, list) else []:
        for info in (link.get("addr_info") or []) if isinstance(link, dict) else []:
            if isinstance(info, dict) and info.get("family") == "inet" and isinstance(info.get("local"), str):
                return str(info["local"])
    return None


# ------------------------------------------------------------------------------------------- the record's nodes

@dataclass
class NodePart:
    """One node command of a running server, as its record keeps it (records.py: `nodes`)."""

    host: str
    role: str  # ray-head, ray-worker, worker, server
    index: int
    user: str | None
    ssh_config: str | None
    marker: str
    pid: int | None = None
    pgid: int | None = None
    log: str | None = None
    container: str | None = None
    runtime: str = "local"
    connect_timeout: int = 10

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "role": self.role, "index": self.index, "user": self.user,
                "ssh_config": self.ssh_config, "marker": self.marker, "pid": self.pid, "pgid": self.pgid,
                "log": self.log, "container": self.container, "runtime": self.runtime,
                "connect_timeout": self.connect_timeout}

    @classmethod
    def from_json(cls, data: Any) -> NodePart | None:
        """A part read back from a record; None when it is not one (its host is held to the settings' syntax again:
        a damaged record must never become an ssh option)."""
        try:
            part = cls(str(data["host"]), str(data["role"]), int(data["index"]), data.get("user"),
                       data.get("ssh_config"), str(data["marker"]), data.get("pid"), data.get("pgid"),
                       data.get("log"), data.get("container"), str(data.get("runtime", "local")),
                       int(data.get("connect_timeout", 10)))
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        ints_ok = all(v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0)
                      for v in (part.pid, part.pgid))
        strings_ok = all(v is None or isinstance(v, str) for v in (part.user, part.ssh_config, part.log,
                                                                   part.container))
        if host_problem(part.host) or not _MARKER.match(part.marker) or not ints_ok or not strings_ok:
            return None
        return part

    def reach(self) -> tuple[ClusterConfig, ClusterNode]:
        """The ssh settings this part was started with (stop works from a new shell, whatever the settings now)."""
        node = ClusterNode(self.host, self.user, "lo", self.runtime, "vllm", None)
        return ClusterConfig((node,), self.ssh_config, self.connect_timeout, 60), node


def _exit_file(part: NodePart) -> str | None:
    if part.log and part.log.endswith(".log"):
        return part.log[:-4] + ".exit"
    return None


def sample_script(parts: list[NodePart], log_lines: int = 0) -> str:
    """One node's answer for `ps`: memory, GPU use, each part's process (alive, exit code), the marked processes
    left, and (for the head) the server's log tail."""
    q = shlex.quote
    marker = parts[0].marker
    lines = ['PATH="$PATH:/usr/sbin:/sbin"; export PATH', f'echo "{MARK}reached"',
             f'echo "{MARK}meminfo"; grep -E "^(MemTotal|MemAvailable):" /proc/meminfo',
             f'echo "{MARK}gpu"',
             "if command -v nvidia-smi >/dev/null 2>&1; then timeout 10 nvidia-smi "
             "--query-gpu=utilization.gpu --format=csv,noheader,nounits 2>/dev/null; fi"]
    for part in parts:
        lines.append(f'echo "{MARK}part {part.index}"')
        if part.container:
            lines.append(f"docker inspect -f '{{{{.State.Running}}}} {{{{.State.ExitCode}}}}' {q(part.container)} "
                         "2>/dev/null || echo gone")
        else:
            exit_file = _exit_file(part)
            if part.pid:
                # A zombie (ended, not yet reaped by whoever adopted it) is dead: `kill -0` would say alive.
                lines.append(f'st=$(ps -o stat= -p {part.pid} 2>/dev/null); case "$st" in ""|Z*) echo dead;; '
                             '*) echo alive;; esac')
            if exit_file:
                lines.append(f"cat {q(exit_file)} 2>/dev/null")
        if log_lines and part.role == "server":
            lines.append(f'echo "{MARK}log"')
            if part.container:
                lines.append(f"docker logs --tail {log_lines} {q(part.container)} 2>&1")
            elif part.log:
                lines.append(f"tail -n {log_lines} {q(part.log)} 2>/dev/null")
    lines += [f'echo "{MARK}marked"', _marked(marker) + " | wc -l", f'echo "{MARK}end"']
    return "\n".join(lines) + "\n"


def _marked(marker: str) -> str:
    """The /proc/PID/environ files of this user's processes carrying the marker (grep -z: NUL-separated)."""
    return f"grep -lzx {shlex.quote(MARKER_VAR + '=' + marker)} /proc/[0-9]*/environ 2>/dev/null"


@dataclass
class NodeSample:
    host: str
    reach_problem: str | None = None
    mem_available: int | None = None
    mem_total: int | None = None
    gpu_utilization: float | None = None
    parts: dict[int, tuple[bool, int | None]] = field(default_factory=dict)  # index → (alive, exit code)
    marked: int | None = None
    log: list[str] = field(default_factory=list)


def read_sample(sample: NodeSample, text: str) -> None:
    found = remote.sections(text)
    facts = remote.NodeFacts(sample.host)
    remote.read_facts(facts, f"{MARK}meminfo\n" + "\n".join(found.get("meminfo", [])))
    sample.mem_available, sample.mem_total = facts.mem_available, facts.mem_total
    uses = [float(v) for v in (line.strip() for line in found.get("gpu", [])) if re.fullmatch(r"\d+(\.\d+)?", v)]
    sample.gpu_utilization = sum(uses) / len(uses) / 100.0 if uses else None
    for key, lines in found.items():
        if key.startswith("part ") and key[5:].isdigit():
            words = " ".join(lines).split()
            alive = bool(words) and words[0] in ("alive", "true")
            code = next((int(w) for w in words[1:] if w.lstrip("-").isdigit()), None)
            if words and words[0] == "gone":
                alive, code = False, None
            sample.parts[int(key[5:])] = (alive, code)
    counted = [line.strip() for line in found.get("marked", []) if line.strip().isdigit()]
    sample.marked = int(counted[0]) if counted else None
    sample.log = found.get("log", [])


def stop_script(parts: list[NodePart], grace: float) -> str:
    """End this node's parts: docker stop, SIGTERM to each group and each marked process, SIGKILL after `grace`
    seconds to what is left; prints how many marked processes remain (0: stopped)."""
    q = shlex.quote
    marker = parts[0].marker
    lines = ['PATH="$PATH:/usr/sbin:/sbin"; export PATH', f'echo "{MARK}reached"',
             "marked() { for f in $(" + _marked(marker) + "); do p=${f#/proc/}; echo ${p%/environ}; done; }"]
    for part in parts:
        if part.container:
            lines.append(f"docker stop -t {int(grace)} {q(part.container)} >/dev/null 2>&1; "
                         f"docker rm -f {q(part.container)} >/dev/null 2>&1")
        elif part.pgid:
            lines.append(f"kill -TERM -{part.pgid} 2>/dev/null")
    lines += [
        "for p in $(marked); do kill -TERM $p 2>/dev/null; done",
        f"i=0; while [ -n \"$(marked)\" ] && [ $i -lt {max(1, int(grace * 5))} ]; do sleep 0.2; i=$((i+1)); done",
    ]
    for part in parts:
        if part.pgid and not part.container:
            lines.append(f"kill -KILL -{part.pgid} 2>/dev/null")
    lines += ["for p in $(marked); do kill -KILL $p 2>/dev/null; done",
              'i=0; while [ -n "$(marked)" ] && [ $i -lt 25 ]; do sleep 0.2; i=$((i+1)); done',
              f'echo "{MARK}left"; marked | wc -l', f'echo "{MARK}end"']
    return "\n".join(lines) + "\n"


def read_left(text: str) -> int | None:
    values = [line.strip() for line in remote.sections(text).get("left", []) if line.strip().isdigit()]
    return int(values[0]) if values else None
