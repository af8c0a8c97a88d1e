"""A stand-in for the docker CLI, for tests: enough of `image ls`, `image inspect`, `run`, `stop` and `ps` to run
the vLLM stand-in (fake_vllm.py) as if it were inside nvcr.io/nvidia/vllm. As with the real daemon, the
"container" is not the CLI's child: killing `docker run` leaves it running, only `docker stop` ends it.

  FAKE_DOCKER_STATE=DIR            where containers are recorded (required)
  FAKE_DOCKER_IMAGES=a:1,b:2       the images docker "has"
  FAKE_DOCKER_VLLM_VERSION=0.15.1  VLLM_VERSION in the images' environment (unset: only `vllm --version` tells)
  FAKE_DOCKER_TRTLLM_VERSION=1.3.0rc13  TRT_LLM_VERSION in the images' environment (docker/Dockerfile.multi sets it)

`trtllm-serve …` runs fake_trtllm_serve.py; `--entrypoint python3 IMAGE -c "import tensorrt_llm; …"` prints the
version banner and FAKE_TRTLLM_VERSION, as the release image's Python does.

Every `run` records what the container got (argv, env, mounts, published port) in DIR/<name>.seen.json.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

FAKE_VLLM = Path(__file__).resolve().parent / "fake_vllm.py"
# The programs an image starts, by their first word (an image's `in_image` words, or its entrypoint: llama.cpp's
# server images start llama-server, .devops/cuda.Dockerfile): the stand-in that plays each.
PROGRAMS = {"vllm": FAKE_VLLM, "trtllm-serve": Path(__file__).resolve().parent / "fake_trtllm_serve.py",
            "llama-server": Path(__file__).resolve().parent / "fake_llama_server.py"}
ENTRYPOINTS = {"ghcr.io/ggml-org/llama.cpp:": "llama-server"}
WITH_VALUE = {"--name", "--gpus", "--ipc", "--ulimit", "-p", "-v", "-e", "--entrypoint", "--format", "-t", "--shm-size"}


def images() -> list[str]:
    return [i for i in os.environ.get("FAKE_DOCKER_IMAGES", "").split(",") if i]


def state() -> Path:
    path = Path(os.environ["FAKE_DOCKER_STATE"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def parse(args: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    options: dict[str, list[str]] = {}
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] in WITH_VALUE:
            options.setdefault(args[i], []).append(args[i + 1])
            i += 2
        else:
            options.setdefault(args[i], []).append("")
            i += 1
    return options, args[i:]


def run(args: list[str]) -> int:
    options, rest = parse(args)
    image, command = rest[0], rest[1:]
    if image not in images():
        print(f"Unable to find image '{image}' locally", flush=True)
        print(f"{image.rsplit(':', 1)[-1]}: Pulling from {image.rsplit(':', 1)[0]}", flush=True)
    if "--entrypoint" in options:
        command = [options["--entrypoint"][0], *command]
    else:
        command = [e for prefix, e in ENTRYPOINTS.items() if image.startswith(prefix)] + command
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    for key in os.environ:  # the stand-in's own knobs reach the "container" as the test set them
        if key.startswith(("FAKE_VLLM_", "FAKE_LLAMA_", "FAKE_TRTLLM_")):
            env[key] = os.environ[key]
    for item in options.get("-e", []):
        key, eq, value = item.partition("=")
        if eq:
            env[key] = value
        elif key in os.environ:
            env[key] = os.environ[key]
    if command[:2] == ["python3", "-c"] and "tensorrt_llm" in command[2]:
        version = os.environ.get("FAKE_TRTLLM_VERSION", "1.3.0rc13")
        print(f"[TensorRT-LLM] TensorRT-LLM version: {version}\n{version}")
        return 0
    if command[:1] not in [[p] for p in PROGRAMS]:
        print(f"docker: exec: {command[:1]}: executable file not found", file=sys.stderr)
        return 127
    program = PROGRAMS[command[0]]
    argv = command[1:]
    published = options.get("-p", [""])[0]
    if published and "--host" in argv:  # what -p publishes is where the server is reachable from the host
        host = published.rsplit(":", 2)[0].strip("[]") if published.count(":") >= 2 else "0.0.0.0"
        argv[argv.index("--host") + 1] = host
    name = options.get("--name", [f"c{os.getpid()}"])[0]
    if "--name" in options:
        (state() / f"{name}.seen.json").write_text(json.dumps(
            {"argv": command, "env": env, "mounts": options.get("-v", []), "publish": published}))
    argv = [_host_path(word, options.get("-v", [])) for word in argv]
    # The daemon's process, not the CLI's child: its own session.
    container = subprocess.Popen([sys.executable, str(program), *argv], env=env, start_new_session=True)
    (state() / f"{name}.json").write_text(json.dumps({"pid": container.pid}))

    def forward(signum: int, _frame: object) -> None:  # docker run's --sig-proxy
        with contextlib.suppress(ProcessLookupError):
            container.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    code = container.wait()
    if "--rm" in options:
        (state() / f"{name}.json").unlink(missing_ok=True)
    return code


def _host_path(word: str, mounts: list[str]) -> str:
    """What a path inside the container is on the host, through the -v SRC:DST[:ro] mounts (the stand-in runs on
    the host)."""
    for mount in mounts:
        source, _, rest = mount.partition(":")
        target = rest.split(":", 1)[0]
        if word == target or word.startswith(target.rstrip("/") + "/"):
            return source + word[len(target):]
    return word


def stop(args: list[str]) -> int:
    options, names = parse(args)
    timeout = float(options.get("-t", ["10"])[0])
    code = 0
    for name in names:
        record = state() / f"{name}.json"
        if not record.exists():
            print(f"Error response from daemon: No such container: {name}", file=sys.stderr)
            code = 1
            continue
        pid = json.loads(record.read_text())["pid"]
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and _running(pid):
                time.sleep(0.05)
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        record.unlink(missing_ok=True)
        print(name)
    return code


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def main(args: list[str]) -> int:
    if args[:2] == ["image", "ls"]:
        print("\n".join(images()))
        return 0
    if args[:2] == ["image", "inspect"]:
        image = parse(args[2:])[1][0]
        if image not in images():
            print(f"Error response from daemon: No such image: {image}", file=sys.stderr)
            return 1
        env = ["PATH=/usr/local/bin:/usr/bin"]
        if os.environ.get("FAKE_DOCKER_VLLM_VERSION"):
            env.append(f"VLLM_VERSION={os.environ['FAKE_DOCKER_VLLM_VERSION']}")
        if os.environ.get("FAKE_DOCKER_TRTLLM_VERSION"):
            env.append(f"TRT_LLM_VERSION={os.environ['FAKE_DOCKER_TRTLLM_VERSION']}")
        image_id = "sha256:" + hashlib.sha256(image.encode()).hexdigest()
        print(json.dumps({"Id": image_id, "Config": {"Env": env, "Labels": {}}}))
        return 0
    if args[:1] == ["run"]:
        return run(args[1:])
    if args[:1] == ["stop"]:
        return stop(args[1:])
    if args[:1] == ["ps"]:
        print("\n".join(p.stem for p in state().glob("*.json") if not p.name.endswith(".seen.json")))
        return 0
    print(f"fake docker: unsupported command {args}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
