"""Where an engine's server runs: a local executable (`vllm` in any venv, a built `llama-server`, `trtllm-serve`) or
a container image (`docker run … IMAGE <program> …`). Chosen by a setting (spark_tui.settings); `auto` takes a local
executable if there is one, else an image of that engine docker already has. Everything is an argv list: no shell."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark_tui.errors import UsageError
from spark_tui.settings import ServeSettings

NGC_VLLM = "nvcr.io/nvidia/vllm"
CONTAINER_HUB_CACHE = "/root/.cache/huggingface/hub"
# Passed to the container by name only (docker reads the value from its own environment): tokens never in argv.
PASSED_THROUGH = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT")


@dataclass(frozen=True)
class EngineProgram:
    """What it takes to find and run one engine's server, locally or in its container image."""

    engine: str
    title: str  # for messages: "vLLM", "llama-server"
    executable: str  # its name on PATH; a plan's argv starts with it
    default_image: str
    images: tuple[str, ...]  # image repositories docker may have, preferred first
    in_image: tuple[str, ...]  # the words that start the server inside the image (empty: the image's entrypoint)
    version_env: tuple[str, ...]  # image environment variables that carry the engine's version
    version_argv: tuple[str, ...]  # how the version is asked of a local executable (after its path)
    how_to_get: str


PROGRAMS = {
    "vllm": EngineProgram(
        "vllm", "vLLM", "vllm",
        default_image=f"{NGC_VLLM}:26.05.post1-py3",  # the newest NGC tag reference/facts.md names
        images=(NGC_VLLM, "vllm/vllm-openai"), in_image=("vllm",), version_env=("VLLM_VERSION",),
        version_argv=("--version",),
        how_to_get=(f"Install it (pip install 'spark-tui[vllm]') and pass --vllm /path/to/venv/bin/vllm, or get "
                    f"NVIDIA's container (docker pull {NGC_VLLM}:26.05.post1-py3; the one to use on DGX Spark) and "
                    "pass --runtime container.")),
    # llama.cpp's docs/docker.md: `server-cuda13` is "compiled with CUDA 13 support" for linux/amd64 and arm64; the
    # CUDA build lists 121a-real (GB10) only from CUDA 12.9 (ggml/src/ggml-cuda/CMakeLists.txt), so on a Spark
    # the CUDA 13 image is the one with kernels for its GPU. Its entrypoint is llama-server itself.
    "llamacpp": EngineProgram(
        "llamacpp", "llama-server", "llama-server",
        default_image="ghcr.io/ggml-org/llama.cpp:server-cuda13",
        images=("ghcr.io/ggml-org/llama.cpp",), in_image=(), version_env=(), version_argv=("--version",),
        how_to_get=("Build llama.cpp with CUDA (cmake -B build -DGGML_CUDA=ON && cmake --build build) and pass "
                    "--executable build/bin/llama-server, or get its container (docker pull "
                    "ghcr.io/ggml-org/llama.cpp:server-cuda13) and pass --runtime container.")),
    # NVIDIA's DGX Spark playbook (nvidia/trt-llm) runs nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc13; the release
    # image's Dockerfile sets TRT_LLM_VERSION (docker/Dockerfile.multi).
    "trtllm": EngineProgram(
        "trtllm", "trtllm-serve", "trtllm-serve",
        default_image="nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc13",
        images=("nvcr.io/nvidia/tensorrt-llm/release",), in_image=("trtllm-serve",),
        version_env=("TRT_LLM_VERSION",), version_argv=(),
        how_to_get=("Install TensorRT-LLM (pip install tensorrt-llm) and pass --executable /path/to/venv/bin/"
                    "trtllm-serve, or get NVIDIA's container (docker pull nvcr.io/nvidia/tensorrt-llm/release:"
                    "1.3.0rc13) and pass --runtime container.")),
}
DEFAULT_IMAGE = PROGRAMS["vllm"].default_image
HOW_TO_GET_VLLM = PROGRAMS["vllm"].how_to_get


def program_of(engine: str) -> EngineProgram:
    if engine not in PROGRAMS:
        raise UsageError(f"Unknown engine '{engine}'.", f"Use one of: {', '.join(PROGRAMS)}.")
    return PROGRAMS[engine]


@dataclass(frozen=True)
class EngineRuntime:
    kind: str  # "local" | "container"
    executable: str  # the engine's executable, or docker
    image: str | None = None
    image_present: bool = True  # docker has the image already (else `docker run` pulls it first)
    engine: str = "vllm"

    def describe(self) -> str:
        return self.executable if self.kind == "local" else f"{self.image} (docker)"

    def command(self, plan_argv: list[str], server_name: str, host: str, port: int, env: dict[str, str],
                secret_names: list[str] | None = None) -> list[str]:
        """The argv that runs the advisor's plan (`vllm serve MODEL …`, `llama-server -m FILE …`) in this runtime.
        `secret_names`: variables of the launching environment handed to the container by name (their values stay
        out of argv)."""
        if self.kind == "local":
            return [self.executable, *plan_argv[1:]]
        assert self.image is not None
        from huggingface_hub import constants

        publish = f"{port}:{port}" if host in ("0.0.0.0", "::", "") else f"{_bracket(host)}:{port}:{port}"
        argv = [self.executable, "run", "--rm", "--name", container_name(server_name), "--gpus", "all",
                "--ipc", "host", "--ulimit", "memlock=-1", "--ulimit", "stack=67108864", "-p", publish,
                "-v", f"{constants.HF_HUB_CACHE}:{CONTAINER_HUB_CACHE}"]
        inner = []
        for i, word in enumerate(plan_argv[1:]):
            # A path has a slash; vLLM's model (`vllm serve MODEL`) may also be a folder named without one.
            mount = _local_mount(word, constants.HF_HUB_CACHE, any_word=self.engine == "vllm" and i == 1)
            if mount is None:
                inner.append(_in_container(word, constants.HF_HUB_CACHE))
                continue
            # A local checkpoint folder or model file: visible at the same (absolute) path, read-only.
            inner.append(str(Path(word).resolve()))
            if f"{mount}:{mount}:ro" not in argv:
                argv += ["-v", f"{mount}:{mount}:ro"]
        for key in PASSED_THROUGH:
            if key in os.environ:
                argv += ["-e", key]
        for key in secret_names or []:
            argv += ["-e", key]
        for key, value in env.items():
            argv += ["-e", f"{key}={value}"]
        # Inside the container the server listens on all interfaces; -p above decides who can reach it.
        inner = _with_option(inner, "--host", "0.0.0.0")
        return [*argv, self.image, *program_of(self.engine).in_image, *inner]


VllmRuntime = EngineRuntime  # the name it had while vLLM was the only engine


def run_argv(argv: list[str], plan: Any, runtime: EngineRuntime | None, server_name: str,
             secret_names: Sequence[str]) -> list[str]:
    """What an adapter's command() returns: the plan's argv as it is (no runtime), or run by `runtime`."""
    if runtime is None:
        return argv
    return runtime.command(argv, server_name, plan.host, plan.port, dict(plan.env), list(secret_names))


def _in_cache(path: Path, hub_cache: str) -> Path | None:
    try:
        return path.absolute().relative_to(Path(hub_cache).absolute())
    except ValueError:
        return None


def _in_container(word: str, hub_cache: str) -> str:
    """A file or folder of the HF cache (a GGUF file under snapshots/, which is a link into blobs/) is named by its
    place in the mounted cache, so its link still resolves inside the container."""
    if not word.startswith("/"):
        return word
    relative = _in_cache(Path(word), hub_cache)
    return f"{CONTAINER_HUB_CACHE}/{relative}" if relative is not None else word


def _local_mount(word: str, hub_cache: str, any_word: bool = False) -> str | None:
    """The folder to mount for an argv word that names a local checkpoint folder or model file outside the HF
    cache (None for anything else)."""
    if word.startswith("-") or ("/" not in word and not any_word):
        return None
    path = Path(word)
    if not path.exists() or _in_cache(path, hub_cache) is not None:
        return None
    folder = path.resolve() if path.is_dir() else path.resolve().parent
    return str(folder)


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


def find_executable(explicit: str | None, engine: str = "vllm") -> str | None:
    """The engine's executable: an explicit path (must work), else the one on PATH (None if there is none)."""
    program = program_of(engine)
    if explicit:
        option = "--vllm (or serve.vllm" if engine == "vllm" else f"--executable (or serve.{engine}.executable"
        return _executable(explicit, program.title, f"Point {option} in config.toml) at the `{program.executable}` "
                           "you want to run.")
    found = shutil.which(program.executable)
    return str(Path(found).resolve()) if found else None


def find_vllm(explicit: str | None) -> str | None:
    return find_executable(explicit, "vllm")


def find_docker(explicit: str | None) -> str | None:
    if explicit:
        return _executable(explicit, "docker", "Point SPARK_TUI_DOCKER (or serve.docker) at the docker CLI.")
    return shutil.which("docker")


def local_images(docker: str, engine: str = "vllm") -> list[str]:
    """The engine's images docker already has (the preferred repository first, newest tag first); empty if docker
    does not answer."""
    try:
        out = subprocess.run([docker, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                             text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    images = [line.strip() for line in out.stdout.splitlines() if line.strip() and not line.endswith(":<none>")]
    found: list[str] = []
    for repository in program_of(engine).images:
        found += sorted((i for i in images if i.startswith(repository + ":")), reverse=True)
    return found


def local_vllm_images(docker: str) -> list[str]:
    return local_images(docker, "vllm")


def resolve_runtime(settings: ServeSettings, runtime: str | None = None, executable: str | None = None,
                    image: str | None = None, engine: str = "vllm") -> EngineRuntime:
    """The runtime a launch of `engine` uses: the flags, then the settings, then what this machine has."""
    program = program_of(engine)
    configured_executable, configured_image = settings.program(engine)
    choice = runtime or settings.runtime
    executable = executable or configured_executable
    image = image or configured_image
    if choice == "auto" and image and not executable:
        choice = "container"
    if choice in ("auto", "local"):
        found = find_executable(executable, engine)
        if found:
            return EngineRuntime("local", found, engine=engine)
        if choice == "local":
            raise UsageError(f"No {program.title} found: none on PATH and no executable given.", program.how_to_get)
    docker = find_docker(settings.docker)
    if docker is None:
        if choice == "container":
            raise UsageError("The container runtime needs docker, and there is none on PATH.",
                             f"Install docker with the NVIDIA container toolkit, or use a local {program.title} "
                             "(--runtime local).")
        raise UsageError(f"No {program.title} found: no `{program.executable}` on PATH and no docker for a "
                         "container.", program.how_to_get)
    have = local_images(docker, engine)
    if choice == "auto" and not have:
        raise UsageError(f"No {program.title} found: no `{program.executable}` on PATH and no {program.title} image "
                         "in docker.", program.how_to_get)
    chosen = image or (have[0] if have else program.default_image)
    return EngineRuntime("container", docker, chosen, image_present=chosen in have or image_present(docker, chosen),
                         engine=engine)


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
# llama-server --version prints "version: 5558 (053b1539)" (to stderr): the build number is llama.cpp's version.
# Since b10400 (#26839, common/build-info.cpp.in) it is "version: 0.2.0-dev (build 10573, commit d775b8967)".
_LLAMACPP_BUILD = re.compile(r"version:\s*(?:(\d+) \(|\S+ \(build (\d+),)")
_TRTLLM_PROBE = "import tensorrt_llm; print(tensorrt_llm.__version__)"


def version_of(runtime: EngineRuntime, run_image: bool = True) -> str | None:
    """The engine version that will really run, so the rules judge it. A local executable: `vllm --version`,
    `llama-server --version`, or TensorRT-LLM's package metadata beside `trtllm-serve` (importing it takes
    seconds). An image: a version label or environment variable, else the program asked once in a container
    (remembered per image id). None when it cannot be told (an image not pulled yet)."""
    program = program_of(runtime.engine)
    if runtime.kind == "local":
        if runtime.engine == "trtllm":
            from spark_tui.engines.versions import dist_version_beside

            return dist_version_beside(runtime.executable, "tensorrt_llm")
        return _run_version([runtime.executable, *program.version_argv], runtime.engine)
    assert runtime.image is not None
    info = _inspect(runtime.executable, runtime.image)
    if info is None:
        return None
    config = info.get("Config") or {}
    label_name = {"vllm": "vllm", "llamacpp": "llama", "trtllm": "(?:trt|tensorrt)"}[runtime.engine]
    for key, value in (config.get("Labels") or {}).items():
        if re.search(rf"{label_name}.*version", key, re.IGNORECASE) and _VERSION.search(str(value)):
            return _VERSION.search(str(value)).group(1)  # type: ignore[union-attr]
    for item in config.get("Env") or []:
        key, _, value = str(item).partition("=")
        if key in program.version_env and _VERSION.search(value):
            return _VERSION.search(value).group(1)  # type: ignore[union-attr]
    return _remembered_image_version(runtime, str(info.get("Id", runtime.image)), run_image)


def _image_probe(runtime: EngineRuntime) -> list[str]:
    """`docker run` of the image that prints its engine's version."""
    assert runtime.image is not None
    docker = [runtime.executable, "run", "--rm"]
    if runtime.engine == "llamacpp":  # the entrypoint is llama-server
        return [*docker, runtime.image, "--version"]
    if runtime.engine == "trtllm":
        return [*docker, "--entrypoint", "python3", runtime.image, "-c", _TRTLLM_PROBE]
    return [*docker, "--entrypoint", "vllm", runtime.image, "--version"]


def _remembered_image_version(runtime: EngineRuntime, image_id: str, run_image: bool = True) -> str | None:
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
    version = _run_version(_image_probe(runtime), runtime.engine)
    if version:
        write_json_atomic(path, {**known, image_id: version})
    return version


def _run_version(argv: list[str], engine: str = "vllm") -> str | None:
    """The version the program prints (`vllm --version` imports torch: seconds, so only at launch)."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    if engine == "llamacpp":
        build = _LLAMACPP_BUILD.search(out.stdout + out.stderr)
        return next(g for g in build.groups() if g) if build else None
    lines = out.stdout.strip().splitlines()
    match = _VERSION.search(lines[-1] if engine == "trtllm" and lines else out.stdout)  # after TRT-LLM's banner
    return match.group(1) if match else None
