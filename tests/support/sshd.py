"""A real OpenSSH server for tests: /usr/sbin/sshd on 127.0.0.1 and a free high port, in the foreground (-D -e) as
a child the test owns and kills, with a generated host key, a generated client key, and its own sshd_config
(StrictModes no, UsePAM no, PidFile and AuthorizedKeysFile in the test's folder). It logs in as the user running
the tests (root or not).

`client_config` writes an ssh config whose Host aliases all reach it (node-a, node-b, …), each with its own
remote environment through SetEnv (the server accepts those names with AcceptEnv): so two "nodes" on one machine
can answer differently (HF_HOME, the stand-in vLLM's version, NCCL variables).

As root, sshd needs its privilege-separation folder /run/sshd; when the machine has none, sshd runs in a private
mount namespace with a tmpfs on /run (nothing outside the test changes), or, where namespaces are not allowed,
the folder is created as openssh-server's own service would."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SSHD = "/usr/sbin/sshd"
ACCEPTED_ENV = ("HF_HOME", "HF_HUB_CACHE", "XDG_CACHE_HOME", "FAKE_VLLM_VERSION", "NCCL_SOCKET_IFNAME",
                "GLOO_SOCKET_IFNAME", "SPARK_TUI_STATE_DIR", "FAKE_VLLM_OWNER", "FAKE_VLLM_RENDEZVOUS_S",
                "FAKE_VLLM_DELAY")


def sshd_path() -> str | None:
    return SSHD if os.access(SSHD, os.X_OK) else shutil.which("sshd")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "spark-tui-test", "-f", str(path)],
                   check=True, capture_output=True, timeout=30)


def _namespaces_work() -> bool:
    unshare = shutil.which("unshare")
    if not unshare:
        return False
    probe = subprocess.run([unshare, "--mount", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs tmpfs /run && mkdir /run/sshd"], capture_output=True, timeout=30)
    return probe.returncode == 0


class SshServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0
        self.user = getpass.getuser()
        self.proc: subprocess.Popen[bytes] | None = None
        self.client_key = folder / "id_client"
        self.host_key = folder / "host_key"
        self.known_hosts = folder / "known_hosts"
        self.log = folder / "sshd.log"

    def start(self) -> SshServer:
        sshd = sshd_path()
        assert sshd, "no sshd"
        self.folder.mkdir(parents=True, exist_ok=True)
        _keygen(self.host_key)
        _keygen(self.client_key)
        (self.folder / "authorized_keys").write_text((self.folder / "id_client.pub").read_text())
        self.port = free_port()
        config = self.folder / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"PidFile {self.folder / 'sshd.pid'}", f"AuthorizedKeysFile {self.folder / 'authorized_keys'}",
            "StrictModes no", "UsePAM no", "PubkeyAuthentication yes",
            # Passwords are offered, so a client without BatchMode would sit at a prompt: the tests show it never does.
            "PasswordAuthentication yes", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
            f"AcceptEnv {' '.join(ACCEPTED_ENV)}", "MaxStartups 50", "LogLevel INFO", "",
        ]))
        argv = [sshd, "-D", "-e", "-f", str(config)]
        if os.geteuid() == 0 and not Path("/run/sshd").is_dir():
            if _namespaces_work():
                argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        'mount -t tmpfs tmpfs /run && mkdir /run/sshd && exec "$@"', "sh", *argv]
            else:
                Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self._wait_listening()
        host_pub = (self.folder / "host_key.pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        return self

    def _wait_listening(self, seconds: float = 30) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited ({self.proc.returncode}): {self.log.read_text()[-2000:]}")
            if "Server listening" in self.log.read_text(errors="replace"):
                return
            time.sleep(0.05)
        raise RuntimeError(f"sshd did not listen within {seconds} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def host_block(self, alias: str, env: dict[str, str] | None = None, port: int | None = None,
                   identity: Path | None = None, known_hosts: Path | None = None, **options: str) -> str:
        """One `Host` entry of a client config reaching this server (or `port`, for a node that is down)."""
        lines = [f"Host {alias}", "  HostName 127.0.0.1", f"  Port {port or self.port}", f"  User {self.user}",
                 f"  IdentityFile {identity or self.client_key}", "  IdentitiesOnly yes",
                 f"  UserKnownHostsFile {known_hosts or self.known_hosts}", "  GlobalKnownHostsFile /dev/null",
                 "  ControlMaster no", "  ControlPath none"]
        lines += [f"  {key} {value}" for key, value in options.items()]
        if env:
            lines.append("  SetEnv " + " ".join(f"{k}={v}" for k, v in env.items()))
        return "\n".join(lines) + "\n"


def sshd_fixture(tmp_path_factory: Any) -> Iterator[SshServer]:
    """A test module's sshd (pytest fixture body: `sshd = pytest.fixture(scope="module")(sshd_fixture)`)."""
    server = SshServer(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()
