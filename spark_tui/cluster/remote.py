"""What each node is asked, and what its answers mean as facts.

Two fixed POSIX-sh scripts per node, built only from validated settings through shlex.quote:
- the facts script: /proc/meminfo, `ip -j addr show dev IF`, nvidia-smi's free memory, NCCL_SOCKET_IFNAME and
  GLOO_SOCKET_IFNAME as a non-interactive ssh session has them, and (with a model) the node's Hugging Face cache
  (each snapshot's files whose links resolve, with sizes, and its safetensors index);
- the engine script: `VLLM --version`, or `docker image inspect --format {{.Id}} IMAGE`.
Sections of the answer start with a marker line; parsing is pure and tested on its own."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

from spark_tui.cluster.config import ClusterNode

MARK = "@@spark-tui@@ "
ENV_NAMES = ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME")
UNSET = "@@unset@@"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
_VERSION = re.compile(r"^\s*v?(\d+\.\d+(?:\.\d+)?(?:[A-Za-z0-9.+-]*)?)\s*$")


def repo_folder(model: str) -> str:
    """huggingface_hub's cache folder for a model repo (`models--owner--name`)."""
    return "--".join(["models", *model.split("/")])


def _remote_path(path: str) -> str:
    """A validated path as a word of the remote shell: `~/x` becomes "$HOME"/'x' (the node's home, not ours)."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def _bounded(seconds: int) -> str:
    """A shell function `bounded CMD…` that ends CMD on the node itself after `seconds` (coreutils' timeout, where
    there is one), so a hung nvidia-smi or vllm does not outlive the ssh call spark-tui gave up on."""
    return (f"bounded() {{ if command -v timeout >/dev/null 2>&1; then timeout -k 5 {seconds} \"$@\"; "
            'else "$@"; fi; }')


def _mark(name: str) -> str:
    return f'echo "{MARK}{name}"'


def facts_script(node: ClusterNode, model: str | None, seconds: int = 120) -> str:
    q = shlex.quote
    lines = [
        # `ip` is in /usr/sbin on Debian/Ubuntu, which a user's non-interactive PATH may lack.
        'PATH="$PATH:/usr/sbin:/sbin"; export PATH',
        _bounded(seconds),
        _mark("reached"),
        _mark("meminfo"), "cat /proc/meminfo 2>&1",
        _mark("ip"), f"ip -j addr show dev {q(node.interface)} 2>&1",
        _mark("gpu"),
        "if command -v nvidia-smi >/dev/null 2>&1; then bounded nvidia-smi --query-gpu=index,memory.free,memory.total "
        "--format=csv,noheader,nounits 2>&1; fi",
        _mark("env"),
    ]
    for name in ENV_NAMES:
        lines.append(f'printf "%s\\n" "{name}=${{{name}-{UNSET}}}"')
    lines += [_mark("tools"), "command -v spark-tui hf huggingface-cli 2>/dev/null"]
    if model:
        lines += [
            # huggingface_hub's own order: HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME/hub, XDG_CACHE_HOME.
            'hub="${HF_HUB_CACHE:-${HUGGINGFACE_HUB_CACHE:-${HF_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/huggingface}'
            '/hub}}"',
            _mark("hub"), 'printf "%s\\n" "$hub"',
            f'repo="$hub"/{q(repo_folder(model))}',
            _mark("ref"), 'cat "$repo/refs/main" 2>/dev/null; echo',
            _mark("files"),
            # `[ -f ]` follows the link: a file whose blob is missing (never finished) is not listed.
            'for s in "$repo"/snapshots/*/; do [ -d "$s" ] || continue; for f in "$s"*; do '
            '[ -f "$f" ] && stat -L -c "%s %n" "$f"; done; done 2>/dev/null',
        ]
        for index in INDEX_FILES:
            lines += ['for s in "$repo"/snapshots/*/; do '
                      f'if [ -f "$s"{q(index)} ]; then echo "{MARK}index $s"; cat "$s"{q(index)}; echo; fi; '
                      'done 2>/dev/null']
    lines.append(_mark("end"))
    return "\n".join(lines) + "\n"


def engine_script(node: ClusterNode, seconds: int = 120) -> str:
    if node.runtime == "container":
        assert node.image is not None
        command = f'docker image inspect --format "{{{{.Id}}}}" {shlex.quote(node.image)}'
    else:
        command = f"{_remote_path(node.vllm)} --version"
    return f"{_bounded(seconds)}\nbounded {command}\n"


TIMED_OUT = (124, 137)  # coreutils' timeout: the command ran out of time (137: it had to be killed)


def sections(text: str) -> dict[str, list[str]]:
    """The answer split at the marker lines (`index PATH` sections keep their path in the name)."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(MARK):
            current = found.setdefault(line[len(MARK):].strip(), [])
        elif current is not None:
            current.append(line)
    return found


@dataclass
class Snapshot:
    commit: str
    files: dict[str, int] = field(default_factory=dict)  # name → size (files whose link resolves)
    shards: set[str] | None = None  # the index's weight files, when there is an index


@dataclass
class NodeFacts:
    """What one node answered. `reach_problem` set: it could not be asked at all."""

    host: str
    reach_problem: str | None = None
    seconds: float = 0.0
    mem_available: int | None = None  # bytes
    mem_total: int | None = None
    gpus: list[tuple[int, int | None, int | None]] = field(default_factory=list)  # index, free, total (bytes)
    ip_output: str = ""
    env: dict[str, str | None] = field(default_factory=dict)
    tools: list[str] = field(default_factory=list)
    hub: str | None = None
    ref_main: str | None = None
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    engine_identity: str | None = None  # vLLM version or image id
    engine_problem: str | None = None


def read_facts(facts: NodeFacts, text: str) -> None:
    """Fill `facts` from the facts script's answer."""
    parts = sections(text)
    for line in parts.get("meminfo", []):
        key, _, rest = line.partition(":")
        words = rest.split()
        if words and words[0].isdigit():
            kib = int(words[0]) * 1024
            if key == "MemAvailable":
                facts.mem_available = kib
            elif key == "MemTotal":
                facts.mem_total = kib
    for line in parts.get("gpu", []):
        cells = [c.strip() for c in line.split(",")]
        if len(cells) == 3 and cells[0].isdigit():
            free, total = (int(c) * 1024 * 1024 if c.isdigit() else None for c in cells[1:])  # MiB; [N/A] on GB10
            facts.gpus.append((int(cells[0]), free, total))
    facts.ip_output = "\n".join(parts.get("ip", []))
    for line in parts.get("env", []):
        name, _, value = line.partition("=")
        if name in ENV_NAMES:
            facts.env[name] = None if value == UNSET else value
    facts.tools = [line.rsplit("/", 1)[-1] for line in parts.get("tools", []) if line.strip()]
    hub = [line for line in parts.get("hub", []) if line.strip()]
    facts.hub = hub[0] if hub else None
    ref = [line.strip() for line in parts.get("ref", []) if line.strip()]
    facts.ref_main = ref[0] if ref and re.fullmatch(r"[0-9a-f]{40}", ref[0]) else None
    for line in parts.get("files", []):
        size, _, path = line.partition(" ")
        commit, file_name = _snapshot_file(path)
        if commit and file_name and size.isdigit():
            facts.snapshots.setdefault(commit, Snapshot(commit)).files[file_name] = int(size)
    for key, lines in parts.items():
        if key.startswith("index "):
            commit, _ = _snapshot_file(key[len("index "):] + "x")
            if commit is None:
                continue
            try:
                weight_map = json.loads("\n".join(lines)).get("weight_map", {})
            except (ValueError, AttributeError):
                weight_map = {}
            snapshot = facts.snapshots.setdefault(commit, Snapshot(commit))
            shards = {str(v) for v in weight_map.values()} if isinstance(weight_map, dict) else set()
            snapshot.shards = (snapshot.shards or set()) | shards


def _snapshot_file(path: str) -> tuple[str | None, str | None]:
    """(commit, file name) of `<hub>/models--o--n/snapshots/<commit>/<name>` (the `//` of a glob tolerated)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[-3] == "snapshots":
        return parts[-2], parts[-1]
    return None, None


def read_engine(facts: NodeFacts, node: ClusterNode, returncode: int | None, stdout: str, stderr: str,
                deadline: float, reach: str) -> None:
    """Fill the engine identity (or the problem, as a fix sentence) from the engine script's answer."""
    err = stderr.strip().splitlines()
    last = err[-1].strip() if err else ""
    where = f"cluster.node.{node.host}"
    if node.runtime == "container":
        image = node.image
        ids = [line.strip() for line in stdout.splitlines() if line.strip().startswith("sha256:")]
        if returncode == 0 and ids:
            facts.engine_identity = ids[0]
        elif returncode is None or returncode in TIMED_OUT:
            facts.engine_problem = f"`docker image inspect` gave no answer within {deadline:g} s; check docker there."
        elif returncode == 127:
            facts.engine_problem = ("there is no docker; install docker with the NVIDIA container toolkit, or set "
                                    f'{where}.runtime = "local".')
        elif "permission denied" in stderr.lower():
            facts.engine_problem = ("this user cannot use docker (permission denied); add it to the docker group "
                                    "(sudo usermod -aG docker $USER) and log in again.")
        elif "no such image" in stderr.lower():
            facts.engine_problem = f"the image {image} is not there; pull it: {reach} docker pull {image}"
        else:
            facts.engine_problem = f"`docker image inspect {image}` failed ({last or returncode}); check docker there."
        return
    command = f"{node.vllm} --version"
    versions = [m.group(1) for m in map(_VERSION.match, stdout.splitlines()) if m]
    if returncode == 0 and versions:
        facts.engine_identity = versions[-1]
    elif returncode is None or returncode in TIMED_OUT:
        facts.engine_problem = f"`{command}` gave no answer within {deadline:g} s; check that vLLM there."
    elif returncode == 127 or returncode == 126:
        facts.engine_problem = (f"there is no vLLM at `{node.vllm}`; install it there, or set {where}.vllm "
                                "(or cluster.vllm) to its path.")
    else:
        facts.engine_problem = f"`{command}` failed ({last or f'exit {returncode}'}); fix that vLLM install."
