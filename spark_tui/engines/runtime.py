"""Where vLLM runs: a local `vllm` executable (any venv, or PATH) or a container image
(`docker run … nvcr.io/nvidia/vllm:<tag> vllm serve …`). Chosen by a setting (spark_tui.settings); `auto` takes a
local executable if there is one, else a vLLM image docker already has. Everything is an argv list: no shell."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from spark_tui.errors import UsageError
from spark_tui.settings import ServeSettings

NGC_VLLM = "nvcr.io/nvidia/vllm"
# The newest NGC tag reference/facts.md names; a setting or --image picks another.
DEFAULT_IMAGE = f"{NGC_VLLM}:26.05.post1-py3"
CONTAINER_HUB_CACHE = "/root/.cache/huggingface/hub"
# Passed to the container by name only (docker reads the value from its own environment): tokens never in argv.
PASSED_THROUGH = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT")
HOW_TO_GET_VLLM = (f"Install it (pip install 'spark-tui[vllm]') and pass --vllm /path/to/venv/bin/vllm, or get "
                   f"NVIDIA's container (docker pull {DEFAULT_IMAGE}; the one to use on DGX Spark) and pass "
                   "--runtime container.")


@dataclass(frozen=True)
class VllmRuntime:
    kind: str  # "local" | "container"
    executable: str  # the vllm executable, or docker
    image: str | None = None
    image_present: bool = True  # docker has the image already (else `docker run` pulls it first)

    def describe(self) -> str:
        return self.executable if self.kind == "local" else f"{self.image} (docker)"

    def command(self, plan_argv: list[str], server_name: str, host: str, port: int, env: dict[str, str],
                secret_names: list[str] | None = None) -> list[str]:
        """The argv that runs the advisor's plan (`vllm serve MODEL …`) in this runtime. `secret_names`: variables
        of the launching environment handed to the container by name (their values stay out of argv)."""
        if self.kind == "local":
            return [self.executable, *plan_argv[1:]]
        assert self.image is not None
        from huggingface_hub import constants

        publish = f"{port}:{port}" if host in ("0.0.0.0", "::", "") else f"{_bracket(host)}:{port}:{port}"
        argv = [self.executable, "run", "--rm", "--name", container_name(server_name), "--gpus", "all",
                "--ipc", "host", "--ulimit", "memlock=-1", "--ulimit", "stack=67108864", "-p", publish,
                "-v", f"{constants.HF_HUB_CACHE}:{CONTAINER_HUB_CACHE}"]
        model = plan_argv[2] if len(plan_argv) > 2 else ""
        if model and Path(model).is_dir():  # a local checkpoint: visible at the same path, read-only
            argv += ["-v", f"{Path(model).resolve()}:{Path(model).resolve()}:ro"]
        for key in PASSED_THROUGH:
            if key in os.environ:
                argv += ["-e", key]
        for key in secret_names or []:
            argv += ["-e", key]
        for key, value in env.items():
            argv += ["-e", f"{key}={value}"]
        # Inside the container vLLM listens on all interfaces; -p above decides who can reach it.
        inner = _with_option(plan_argv[1:], "--host", "0.0.0.0")
        return [*argv, self.image, "vllm", *inner]


def container_name(server_name: str) -> str:
    return f"spark-tui-{server_name}"


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _with_option(argv: list[str], option: str, value: str) -> list[str]:
    out = list(argv)
    if option in out and out.index(option) + 1 < len(out):
        out[out.index(option) + 1] = value
    else:
        out += [option, value]
    return out


def _executable(candidate: str, what: str, hint: str) -> str:
    found = shutil.which(os.path.expanduser(candidate))
    if not found:
        raise UsageError(f"{candidate} is not an executable {what}.", hint)
    return str(Path(found).resolve())


def find_vllm(explicit: str | None) -> str | None:
    """The vLLM executable: an explicit path (must work), else the one on PATH (None if there is none)."""
    if explicit:
        return _executable(explicit, "vLLM", "Point --vllm (or serve.vllm in config.toml) at the `vllm` in your venv.")
    found = shutil.which("vllm")
    return str(Path(found).resolve()) if found else None


def find_docker(explicit: str | None) -> str | None:
    if explicit:
        return _executable(explicit, "docker", "Point SPARK_TUI_DOCKER (or serve.docker) at the docker CLI.")
    return shutil.which("docker")


def local_vllm_images(docker: str) -> list[str]:
    """vLLM images docker already has (NVIDIA's first, newest tag first); empty if docker does not answer."""
    try:
        out = subprocess.run([docker, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                             text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    images = [line.strip() for line in out.stdout.splitlines() if line.strip() and not line.endswith(":<none>")]
    ngc = sorted((i for i in images if i.startswith(NGC_VLLM + ":")), reverse=True)
    upstream = sorted((i for i in images if i.startswith("vllm/vllm-openai:")), reverse=True)
    return ngc + upstream


def resolve_runtime(settings: ServeSettings, runtime: str | None = None, vllm: str | None = None,
                    image: str | None = None) -> VllmRuntime:
    """The runtime a launch uses: the flags, then the settings, then what this machine has."""
    choice = runtime or settings.runtime
    vllm = vllm or settings.vllm
    image = image or settings.image
    if choice == "auto" and image and not vllm:
        choice = "container"
    if choice in ("auto", "local"):
        executable = find_vllm(vllm)
        if executable:
            return VllmRuntime("local", executable)
        if choice == "local":
            raise UsageError("No vLLM found: none on PATH and no --vllm given.", HOW_TO_GET_VLLM)
    docker = find_docker(settings.docker)
    if docker is None:
        if choice == "container":
            raise UsageError("The container runtime needs docker, and there is none on PATH.",
                             "Install docker with the NVIDIA container toolkit, or use a local vLLM (--runtime local).")
        raise UsageError("No vLLM found: no `vllm` on PATH and no docker for a container.", HOW_TO_GET_VLLM)
    have = local_vllm_images(docker)
    if choice == "auto" and not have:
        raise UsageError("No vLLM found: no `vllm` on PATH and no vLLM image in docker.", HOW_TO_GET_VLLM)
    chosen = image or (have[0] if have else DEFAULT_IMAGE)
    return VllmRuntime("container", docker, chosen, image_present=chosen in have or image_present(docker, chosen))


def image_present(docker: str, image: str) -> bool:
    return _inspect(docker, image) is not None


def _inspect(docker: str, image: str) -> dict | None:
    try:
        out = subprocess.run([docker, "image", "inspect", "--format", "{{json .}}", image], capture_output=True,
                             text=True, timeout=20, check=False)
        data = json.loads(out.stdout) if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    return data if isinstance(data, dict) else None


_VERSION = re.compile(r"(\d+\.\d+(?:\.\d+)?(?:[a-z0-9.+]*)?)")


def version_of(runtime: VllmRuntime, run_image: bool = True) -> str | None:
    """The vLLM version that will really run, so the rules judge it: `vllm --version` of a local executable;
    for an image, a vLLM version label or VLLM_VERSION in its environment, else `vllm --version` run in it once
    (remembered per image id). None when it cannot be told (an image not pulled yet)."""
    if runtime.kind == "local":
        return _run_version([runtime.executable, "--version"])
    assert runtime.image is not None
    info = _inspect(runtime.executable, runtime.image)
    if info is None:
        return None
    config = info.get("Config") or {}
    for key, value in (config.get("Labels") or {}).items():
        if re.search(r"vllm.*version", key, re.IGNORECASE) and _VERSION.search(str(value)):
            return _VERSION.search(str(value)).group(1)  # type: ignore[union-attr]
    for item in config.get("Env") or []:
        key, _, value = str(item).partition("=")
        if key == "VLLM_VERSION" and _VERSION.search(value):
            return _VERSION.search(value).group(1)  # type: ignore[union-attr]
    return _remembered_image_version(runtime.executable, runtime.image, str(info.get("Id", runtime.image)),
                                     run_image)


def _remembered_image_version(docker: str, image: str, image_id: str, run_image: bool = True) -> str | None:
    from spark_tui.files import write_json_atomic
    from spark_tui.paths import cache_dir

    path = cache_dir() / "image-versions.json"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    if image_id in known:
        return known[image_id]
    if not run_image:  # the app's header: never start a container just to read a version
        return None
    version = _run_version([docker, "run", "--rm", "--entrypoint", "vllm", image, "--version"])
    if version:
        write_json_atomic(path, {**known, image_id: version})
    return version


def _run_version(argv: list[str]) -> str | None:
    """`vllm --version` (it imports torch: seconds, so only at launch)."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(out.stdout)
    return match.group(1) if match and out.returncode == 0 else None
