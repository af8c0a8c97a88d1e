"""The [cluster] table: every value held to its syntax, a bad one said in one sentence naming its key."""

from __future__ import annotations

import pytest

from spark_tui.cluster.config import host_problem, interface_problem, parse_cluster
from spark_tui.cluster.ssh import ssh_argv
from spark_tui.errors import UsageError

BASE = {"nodes": ["spark-a", "spark-b"], "interface": "enp1s0f1np1"}


def parse(**changes):
    return parse_cluster({**BASE, **changes}, "config.toml")


def test_defaults_and_head():
    config = parse()
    assert [n.host for n in config.nodes] == ["spark-a", "spark-b"] and config.head.host == "spark-a"
    node = config.nodes[1]
    assert (node.user, node.interface, node.runtime, node.vllm, node.image) == (None, "enp1s0f1np1", "local", "vllm",
                                                                                None)
    assert (config.connect_timeout, config.command_timeout, config.ssh_config) == (10, 120, None)


def test_per_node_overrides():
    config = parse(runtime="container", image="nvcr.io/nvidia/vllm:26.05-py3", user="nvidia",
                   node={"spark-b": {"interface": "enP2p1s0f1np1", "user": "ops"}})
    a, b = config.nodes
    assert (a.interface, a.user, a.image) == ("enp1s0f1np1", "nvidia", "nvcr.io/nvidia/vllm:26.05-py3")
    assert (b.interface, b.user, b.runtime) == ("enP2p1s0f1np1", "ops", "container")


def test_ssh_config_from_the_environment_wins(tmp_path):
    config = parse_cluster({**BASE, "ssh_config": "~/x"}, "c.toml", ssh_config=str(tmp_path / "cfg"))
    assert config.ssh_config == str(tmp_path / "cfg")


@pytest.mark.parametrize(("changes", "key"), [
    ({"nodes": ["-oProxyCommand=sh -c x", "b"]}, "cluster.nodes[0]"),
    ({"nodes": ["a", "b c"]}, "cluster.nodes[1]"),
    ({"nodes": ["a", "b;c"]}, "cluster.nodes[1]"),
    ({"nodes": ["a", "$(id)"]}, "cluster.nodes[1]"),
    ({"nodes": ["a", "a"]}, "cluster.nodes[1]"),
    ({"nodes": ["a", 3]}, "cluster.nodes[1]"),
    ({"nodes": []}, "cluster.nodes"),
    ({"nodes": "spark-a"}, "cluster.nodes"),
    ({"interface": "a/b"}, "cluster.interface"),
    ({"interface": "eth0:1"}, "cluster.interface"),
    ({"interface": "x" * 16}, "cluster.interface"),
    ({"interface": "-h"}, "cluster.interface"),
    ({"interface": "a,b"}, "cluster.interface"),
    ({"interface": ".."}, "cluster.interface"),
    ({"user": "-l"}, "cluster.user"),
    ({"user": "a b"}, "cluster.user"),
    ({"runtime": "podman"}, "cluster.runtime"),
    ({"runtime": "container"}, "no image is set"),
    ({"image": "a b"}, "cluster.image"),
    ({"image": "-x"}, "cluster.image"),
    ({"vllm": "--help"}, "cluster.vllm"),
    ({"vllm": "a b"}, "cluster.vllm"),
    ({"connect_timeout": 0}, "cluster.connect_timeout"),
    ({"command_timeout": "5"}, "cluster.command_timeout"),
    ({"nodez": ["a"]}, "cluster.nodez"),
    ({"node": {"spark-c": {}}}, "cluster.node.spark-c"),
    ({"node": {"spark-b": {"interfac": "x"}}}, "cluster.node.spark-b.interfac"),
    ({"node": {"spark-b": {"interface": "a b"}}}, "cluster.node.spark-b.interface"),
])
def test_bad_values_name_their_key(changes, key):
    with pytest.raises(UsageError) as caught:
        parse(**changes)
    assert key in caught.value.message
    assert caught.value.message.startswith("In config.toml, ")
    assert caught.value.message.endswith(".") and "\n" not in caught.value.message


def test_missing_interface():
    with pytest.raises(UsageError, match=r"cluster\.interface is missing"):
        parse_cluster({"nodes": ["a"]}, "c.toml")


def test_a_typo_gets_a_suggestion():
    with pytest.raises(UsageError) as caught:
        parse(interfaces="x")
    assert caught.value.hint == "Did you mean cluster.interface?"


@pytest.mark.parametrize("host", ["spark-a", "spark_b.lan", "10.0.0.2", "fe80::1", "a" * 200])
def test_good_hosts(host):
    assert host_problem(host) is None


@pytest.mark.parametrize("name", ["enp1s0f1np1", "enP2p1s0f1np1", "lo", "br-1a2b", "x" * 15])
def test_good_interfaces(name):
    assert interface_problem(name) is None


def test_ssh_argv_is_batch_mode_with_the_host_after_double_dash():
    config = parse(user="nvidia", connect_timeout=7)
    argv = ssh_argv(config, config.nodes[1], "echo hi", ssh="/usr/bin/ssh")
    assert argv[0] == "/usr/bin/ssh"
    assert "BatchMode=yes" in argv and "ConnectTimeout=7" in argv
    assert argv[argv.index("-l") + 1] == "nvidia"
    assert argv[-3:] == ["--", "spark-b", "sh -c 'echo hi'"]


def test_run_remote_kills_the_whole_group_at_its_deadline(tmp_path):
    """A stuck ssh (and anything it started, like a ProxyCommand) is killed at the deadline, not waited for."""
    import time
    from pathlib import Path

    from spark_tui.cluster.ssh import run_remote

    pid_file = tmp_path / "child.pid"
    stuck = tmp_path / "ssh"
    stuck.write_text(f"#!/bin/sh\nsleep 600 &\necho $! > {pid_file}\nwait\n")
    stuck.chmod(0o755)
    config = parse()
    start = time.monotonic()
    result = run_remote(config, config.nodes[0], "true", deadline=1, ssh=str(stuck))
    assert result.timed_out and time.monotonic() - start < 30
    child = int(pid_file.read_text())
    for _ in range(50):
        stat = Path(f"/proc/{child}/stat")
        if not stat.exists() or stat.read_text().split()[2] == "Z":
            break
        time.sleep(0.1)
    else:
        import os

        os.kill(child, 9)
        raise AssertionError("the ssh's child outlived the deadline")


def test_the_readme_example_is_valid():
    """The [cluster] example users copy from the README parses, with its per-node override."""
    import re
    import tomllib
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Several Sparks")[1].split("\n## ")[0]
    block = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert block
    config = parse_cluster(tomllib.loads(block.group(1))["cluster"], "README.md")
    assert [n.host for n in config.nodes] == ["spark-a", "spark-b"]
    assert config.nodes[1].interface == "enP2p1s0f1np1" and config.nodes[0].runtime == "container"
