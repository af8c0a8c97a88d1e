"""The `[cluster]` table of the settings file, validated value by value.

Every host name, user, interface, path and image here becomes an argv word of `ssh` or a word of a remote command,
so each is held to a strict syntax before anything runs: a bad value is one sentence naming its key, never an
option smuggled into ssh (`-oProxyCommand=…`) or a word split by the remote shell.

    [cluster]
    nodes = ["spark-a", "spark-b"]    # SSH host names as in ~/.ssh/config; the first is the head
    user = "nvidia"                   # optional: else ~/.ssh/config's User (or the local user name)
    interface = "enp1s0f1np1"         # the high-speed (CX-7) interface, the same name on every node
    runtime = "container"             # local | container
    image = "nvcr.io/nvidia/vllm:26.05-py3"   # container: the image
    vllm = "~/venvs/vllm/bin/vllm"    # local: the vllm executable (default: `vllm` on the node's PATH)
    ssh_config = "~/.ssh/config"      # optional: ssh -F FILE (SPARK_TUI_SSH_CONFIG)
    connect_timeout = 10              # seconds for ssh to connect (ssh -o ConnectTimeout)
    command_timeout = 120             # seconds for a whole remote call (vllm --version imports torch)
    master_port = 29501               # serve --nodes, Ray-less: vLLM's --master-port on the head
    ray_port = 6379                   # serve --nodes --distributed ray: the Ray head's GCS port
    ray_start_args = ["--disable-usage-stats"]  # extra `ray start` options (--temp-dir=…, --num-gpus=1, ports)

    [cluster.node.spark-b]            # optional per-node overrides: user, interface, runtime, image, vllm,
                                      # ray_start_args (added to the shared ones)
    interface = "enP2p1s0f1np1"
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from dataclasses import dataclass
from typing import Any

from spark_tui.errors import UsageError

RUNTIMES = ("local", "container")
_TOP_KEYS = ("nodes", "user", "interface", "runtime", "image", "vllm", "ssh_config", "connect_timeout",
             "command_timeout", "master_port", "ray_port", "ray_start_args", "node")
_NODE_KEYS = ("user", "interface", "runtime", "image", "vllm", "ray_start_args")

# A Host alias or DNS name: letters, digits, '.', '_', '-', starting with a letter, digit or '_' (never '-': ssh
# would read the word as an option). IPv6 literals are accepted separately, through ipaddress.
_HOST = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,252}$")
# POSIX portable user names (plus the '$' some systems allow at the end), never starting with '-'.
_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$")
# A docker image reference: [registry[:port]/]path[:tag][@digest]; lower-case path per docker's grammar.
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
                    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[a-z0-9]+:[0-9a-fA-F]{32,})?$")
# A path on the node (absolute, ~/…, or a command name): printable, no whitespace, no leading '-'.
_REMOTE_PATH = re.compile(r"^[^\s\x00-\x1f\x7f-][^\s\x00-\x1f\x7f]{0,4095}$")
# One `ray start` option as one word: --name or --name=value, the value printable without whitespace.
_RAY_OPTION = re.compile(r"^--[a-z][a-z0-9-]{0,63}(?:=[^\s\x00-\x1f\x7f]{0,1024})?$")


@dataclass(frozen=True)
class ClusterNode:
    host: str
    user: str | None
    interface: str
    runtime: str  # "local" | "container"
    vllm: str  # local: the executable on the node ("vllm": the node's PATH)
    image: str | None  # container: the image
    ray_start_args: tuple[str, ...] = ()  # extra `ray start` options on this node


@dataclass(frozen=True)
class ClusterConfig:
    nodes: tuple[ClusterNode, ...]  # the first is the head
    ssh_config: str | None  # ssh -F FILE (already expanded), None: ssh's own default
    connect_timeout: int = 10
    command_timeout: int = 120
    master_port: int = 29501
    ray_port: int = 6379

    @property
    def head(self) -> ClusterNode:
        return self.nodes[0]


def host_problem(value: str) -> str | None:
    """Why `value` cannot be an SSH host name (None when it can)."""
    if value.startswith("-"):
        return "starts with '-', which ssh would read as an option"
    if _HOST.match(value):
        return None
    try:
        ipaddress.IPv6Address(value)
        return None
    except ValueError:
        pass
    if not value:
        return "is empty"
    return "has characters an SSH host name cannot have (letters, digits, '.', '_' and '-' only)"


def interface_problem(value: str) -> str | None:
    """Why `value` cannot be a Linux network interface name: the kernel's dev_valid_name (net/core/dev.c: 1 to 15
    bytes, not '.' or '..', no '/', ':' or whitespace), plus no leading '-' (ip would read an option), no ','
    (NCCL_SOCKET_IFNAME's list separator) and printable ASCII only."""
    if not value:
        return "is empty"
    if len(value.encode()) > 15:
        return "is longer than Linux allows (15 bytes)"
    if value in (".", ".."):
        return "cannot be '.' or '..'"
    if value.startswith("-"):
        return "starts with '-'"
    bad = [c for c in value if c in "/:," or c.isspace() or not (c.isascii() and c.isprintable())]
    if bad:
        return f"has {bad[0]!r}, which an interface name cannot have"
    return None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…'"


def _bad(source: str, key: str, value: Any, why: str, hint: str | None = None) -> UsageError:
    return UsageError(f"In {source}, {key} = {_shown(value)} {why}.", hint)


def _unknown_keys(source: str, prefix: str, table: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"Did you mean {prefix}{close[0]}?" if close else f"Known keys: {', '.join(allowed)}."
            raise UsageError(f"In {source}, {prefix}{key} is not a cluster setting.", hint)


def _string(source: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise UsageError(f"In {source}, {key} must be a string, not {type(value).__name__}.")
    return value


def _check_user(source: str, key: str, value: Any) -> str:
    value = _string(source, key, value)
    if not _USER.match(value):
        raise _bad(source, key, value, "is not a user name (letters, digits, '_', '.', '-', not starting with '-')")
    return value


def _check_interface(source: str, key: str, value: Any) -> str:
    value = _string(source, key, value)
    why = interface_problem(value)
    if why:
        raise _bad(source, key, value, f"is not a network interface name: it {why}",
                   "Use the name `ip link` shows on the node, e.g. enp1s0f1np1 (the CX-7 port that is Up in "
                   "ibdev2netdev).")
    return value


def _check_image(source: str, key: str, value: Any) -> str:
    value = _string(source, key, value)
    if len(value) > 512 or not _IMAGE.match(value):
        raise _bad(source, key, value, "is not a container image reference",
                   "For example: nvcr.io/nvidia/vllm:26.05-py3")
    return value


def _check_vllm(source: str, key: str, value: Any) -> str:
    value = _string(source, key, value)
    if not _REMOTE_PATH.match(value):
        raise _bad(source, key, value, "is not a path (no spaces or control characters, not starting with '-')",
                   "For example: ~/venvs/vllm/bin/vllm")
    return value


def _check_runtime(source: str, key: str, value: Any) -> str:
    value = _string(source, key, value)
    if value not in RUNTIMES:
        raise _bad(source, key, value, f"is not a runtime (use {' or '.join(RUNTIMES)})")
    return value


def _seconds(source: str, key: str, value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3600:
        raise _bad(source, key, value, "must be a whole number of seconds from 1 to 3600")
    return value


def _ray_options(source: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise UsageError(f"In {source}, {key} must be a list of `ray start` options.",
                         'For example: ray_start_args = ["--temp-dir=/scratch/ray", "--num-gpus=1"]')
    for i, word in enumerate(value):
        word = _string(source, f"{key}[{i}]", word)
        if not _RAY_OPTION.match(word):
            raise _bad(source, f"{key}[{i}]", word, "is not one `ray start` option (--name or --name=value, "
                       "no spaces)")
    return tuple(value)


def _port(source: str, key: str, value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1024 <= value <= 65535:
        raise _bad(source, key, value, "must be a port number from 1024 to 65535")
    return value


def parse_cluster(table: Any, source: str, ssh_config: str | None = None) -> ClusterConfig:
    """The validated cluster from the `[cluster]` table of `source` (a file name, for the sentences).
    `ssh_config` (SPARK_TUI_SSH_CONFIG) overrides cluster.ssh_config."""
    if not isinstance(table, dict):
        raise UsageError(f"In {source}, [cluster] must be a table.")
    _unknown_keys(source, "cluster.", table, _TOP_KEYS)
    nodes = table.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise UsageError(f"In {source}, cluster.nodes must list the nodes' SSH host names, the head first.",
                         'For example: nodes = ["spark-a", "spark-b"]')
    hosts: list[str] = []
    for i, host in enumerate(nodes):
        key = f"cluster.nodes[{i}]"
        host = _string(source, key, host)
        why = host_problem(host)
        if why:
            raise _bad(source, key, host, f"is not an SSH host name: it {why}",
                       "Name the node as in ~/.ssh/config (Host spark-b) or by its DNS name or address.")
        if host in hosts:
            raise _bad(source, key, host, "is listed twice")
        hosts.append(host)

    user = _check_user(source, "cluster.user", table["user"]) if table.get("user") is not None else None
    interface = table.get("interface")
    interface = _check_interface(source, "cluster.interface", interface) if interface is not None else None
    runtime = _check_runtime(source, "cluster.runtime", table.get("runtime", "local"))
    image = _check_image(source, "cluster.image", table["image"]) if table.get("image") is not None else None
    vllm = _check_vllm(source, "cluster.vllm", table["vllm"]) if table.get("vllm") is not None else None
    ray_args = _ray_options(source, "cluster.ray_start_args", table.get("ray_start_args", []))

    overrides = table.get("node", {})
    if not isinstance(overrides, dict):
        raise UsageError(f"In {source}, cluster.node must be a table of per-node tables ([cluster.node.NAME]).")
    for name in overrides:
        if name not in hosts:
            raise UsageError(f"In {source}, [cluster.node.{name}] names no node of cluster.nodes.",
                             f"The nodes are: {', '.join(hosts)}.")

    built: list[ClusterNode] = []
    for host in hosts:
        extra = overrides.get(host, {})
        prefix = f"cluster.node.{host}."
        if not isinstance(extra, dict):
            raise UsageError(f"In {source}, cluster.node.{host} must be a table.")
        _unknown_keys(source, prefix, extra, _NODE_KEYS)
        node_user = _check_user(source, prefix + "user", extra["user"]) if "user" in extra else user
        node_if = _check_interface(source, prefix + "interface", extra["interface"]) if "interface" in extra \
            else interface
        if node_if is None:
            raise UsageError(f"In {source}, cluster.interface is missing: name the high-speed interface.",
                             "For example: interface = \"enp1s0f1np1\" (the CX-7 port that is Up in ibdev2netdev).")
        node_runtime = _check_runtime(source, prefix + "runtime", extra["runtime"]) if "runtime" in extra \
            else runtime
        node_image = _check_image(source, prefix + "image", extra["image"]) if "image" in extra else image
        node_vllm = _check_vllm(source, prefix + "vllm", extra["vllm"]) if "vllm" in extra else vllm
        if node_runtime == "container" and node_image is None:
            raise UsageError(f"In {source}, node {host} runs vLLM in a container but no image is set.",
                             "Set cluster.image (e.g. \"nvcr.io/nvidia/vllm:26.05-py3\") or "
                             f"cluster.node.{host}.image.")
        node_ray = ray_args + (_ray_options(source, prefix + "ray_start_args", extra["ray_start_args"])
                               if "ray_start_args" in extra else ())
        built.append(ClusterNode(host, node_user, node_if, node_runtime, node_vllm or "vllm",
                                 node_image if node_runtime == "container" else None, node_ray))

    config_file = ssh_config or table.get("ssh_config")
    if config_file is not None:
        config_file = _string(source, "cluster.ssh_config", config_file)
        if not config_file or "\x00" in config_file:
            raise _bad(source, "cluster.ssh_config", config_file, "is not a file name")
    return ClusterConfig(tuple(built), os.path.expanduser(config_file) if config_file else None,
                         _seconds(source, "cluster.connect_timeout", table.get("connect_timeout"), 10),
                         _seconds(source, "cluster.command_timeout", table.get("command_timeout"), 120),
                         _port(source, "cluster.master_port", table.get("master_port"), 29501),
                         _port(source, "cluster.ray_port", table.get("ray_port"), 6379))
