"""Run one fixed command on a node through the system `ssh` client, with a deadline.

`ssh -F CONFIG -o BatchMode=yes -o ConnectTimeout=N -T [-l USER] -- HOST sh -c SCRIPT`: an argv list (never a local
shell); BatchMode so that a password or host-key prompt fails at once instead of waiting for a keyboard; stdin is
/dev/null. The remote side gets one word for `sh -c`, quoted with shlex.quote, so the user's login shell (bash,
zsh, fish) reads it the same way and still sets up the environment a non-interactive ssh session has.

The ssh process runs in its own session: at the deadline the whole group is killed (ssh and any ProxyCommand it
started), so nothing is left behind and nothing waits on a pipe a grandchild still holds."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
from dataclasses import dataclass

from spark_tui.cluster.config import ClusterConfig, ClusterNode
from spark_tui.errors import UsageError

SSH_FAILED = 255  # ssh's own exit status for a connection or authentication failure

_live: set[subprocess.Popen[str]] = set()  # ssh processes running now, so that Ctrl-C can end them all
_live_lock = threading.Lock()


@dataclass(frozen=True)
class RemoteResult:
    returncode: int | None  # None: killed at the deadline
    stdout: str
    stderr: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def ssh_executable() -> str:
    import shutil

    found = shutil.which("ssh")
    if not found:
        raise UsageError("No ssh client on PATH: cluster check runs every node check through ssh.",
                         "Install it (apt-get install openssh-client).")
    return found


def ssh_argv(config: ClusterConfig, node: ClusterNode, script: str, ssh: str = "ssh") -> list[str]:
    """The argv that runs `script` (POSIX sh) on `node`."""
    argv = [ssh]
    if config.ssh_config:
        argv += ["-F", config.ssh_config]
    argv += ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={config.connect_timeout}",
             "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2", "-T"]
    if node.user:
        argv += ["-l", node.user]
    # `--` ends ssh's options: the host can never be read as one (it is validated too).
    return [*argv, "--", node.host, "sh -c " + shlex.quote(script)]


def how_to_reach(config: ClusterConfig, node: ClusterNode) -> str:
    """The ssh command line a user would type to reach the node the same way (for fix sentences)."""
    words = ["ssh"]
    if config.ssh_config:
        words += ["-F", shlex.quote(config.ssh_config)]
    if node.user:
        words += ["-l", node.user]
    return " ".join([*words, node.host])


def run_remote(config: ClusterConfig, node: ClusterNode, script: str, deadline: float,
               ssh: str = "ssh") -> RemoteResult:
    """Run `script` on `node`; at most `deadline` seconds in all (connecting included)."""
    import time

    start = time.monotonic()
    try:
        proc = subprocess.Popen(ssh_argv(config, node, script, ssh), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                                start_new_session=True)
    except OSError as exc:
        return RemoteResult(SSH_FAILED, "", f"cannot run ssh: {exc.strerror or exc}", 0.0)
    with _live_lock:
        _live.add(proc)
    try:
        out, err = proc.communicate(timeout=deadline)
        return RemoteResult(proc.returncode, out, err, time.monotonic() - start)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a pipe still held open: give up on the output, never wait longer
            out, err = "", ""
        return RemoteResult(None, out or "", err or "", time.monotonic() - start)
    finally:
        with _live_lock:
            _live.discard(proc)


def kill_all() -> None:
    """End every ssh call still running (Ctrl-C in the thread that waits for them)."""
    with _live_lock:
        running = list(_live)
    for proc in running:
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session (start_new_session): ssh and its ProxyCommand
    except (ProcessLookupError, PermissionError):
        proc.kill()


def unreachable_sentence(config: ClusterConfig, node: ClusterNode, result: RemoteResult, deadline: float) -> str:
    """What went wrong reaching the node, and what to do, in one sentence (from ssh's own message)."""
    reach = how_to_reach(config, node)
    if result.timed_out:
        return (f"no answer from {node.host} within {deadline:g} s; check that it is on and reachable "
                f"(try: {reach} true).")
    err = result.stderr.strip()
    last = err.splitlines()[-1].strip() if err else f"ssh exited with {result.returncode}"
    lowered = err.lower()
    if "host key verification failed" in lowered or "no matching host key" in lowered:
        return (f"{node.host}'s host key is not known (or has changed), and spark-tui never answers that prompt; "
                f"run `{reach}` once by hand to check and accept it.")
    if "remote host identification has changed" in lowered:
        return (f"{node.host}'s host key has CHANGED; if the node was reinstalled, remove the old key "
                f"(ssh-keygen -R {node.host}) and run `{reach}` once by hand.")
    if "permission denied" in lowered or "too many authentication failures" in lowered:
        return (f"{node.host} refused the login without a password, and spark-tui never types one; set up key "
                f"login (ssh-copy-id {node.host}) so that `{reach} true` asks nothing.")
    if "could not resolve hostname" in lowered:
        return (f"{node.host} is not a name ssh knows; add a `Host {node.host}` entry (HostName, User) to your "
                "ssh config or use its address.")
    if "connection refused" in lowered:
        return f"{node.host} refused the connection; start its SSH server (sudo systemctl start ssh) or fix the port."
    if "timed out" in lowered or "no route to host" in lowered or "network is unreachable" in lowered:
        return f"cannot reach {node.host} ({last}); check that it is on and its network is up."
    return f"ssh to {node.host} failed ({last}); run `{reach} true` by hand to see why."
