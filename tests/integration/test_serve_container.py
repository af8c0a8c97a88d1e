"""The container runtime, for real processes: `spark-tui serve --runtime container` runs `docker run … IMAGE vllm
serve …` through the same supervisor as a local vLLM. docker is a stand-in (tests/support/fake_docker.py) whose
"container" outlives the CLI as a real one does, so only `docker stop` ends it."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.integration.test_serve import free_port, leftover, wait_state
from tests.support.stand_ins import OWNER, own_processes, stand_in

ROOT = Path(__file__).resolve().parent.parent.parent
IMAGE = "nvcr.io/nvidia/vllm:26.02-py3"


@pytest.fixture
def docker(tmp_path, monkeypatch, hub):
    exe = stand_in(tmp_path / "dockerbin" / "docker", "fake_docker.py")
    monkeypatch.setenv("SPARK_TUI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SPARK_TUI_DOCKER", str(exe))
    monkeypatch.setenv("FAKE_DOCKER_STATE", str(tmp_path / "docker"))
    monkeypatch.setenv("FAKE_DOCKER_IMAGES", f"ubuntu:24.04,{IMAGE},nvcr.io/nvidia/vllm:25.09-py3")
    monkeypatch.setenv("FAKE_VLLM_DELAY", "0.4")
    monkeypatch.setenv(OWNER, str(tmp_path))
    yield exe
    for process in leftover(tmp_path):
        process.kill()


def seen(tmp_path: Path, name: str) -> dict:
    return json.loads((tmp_path / "docker" / f"spark-tui-{name}.seen.json").read_text())


def test_container_launch_reattach_and_stop_even_after_the_cli_died(cli, docker, tmp_path):
    port = free_port()
    r = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "h100", "--runtime", "container", "--port", str(port),
            "--name", "boxed", "--api-key", "sk-boxed-key",
            env={"HF_TOKEN": "hf_secret_value", "FAKE_DOCKER_VLLM_VERSION": "0.15.1"})
    assert r.code == 0, r.err
    assert r.out.strip() == f"boxed http://127.0.0.1:{port}"
    server = wait_state(cli, "boxed", ("ready",))
    assert server["engine"] == "vllm" and server["url"] == f"http://127.0.0.1:{port}"
    got = seen(tmp_path, "boxed")
    # The newest NVIDIA vLLM image docker has; vLLM inside listens on all interfaces, -p publishes to loopback only.
    assert got["argv"][:3] == ["vllm", "serve", "RedHatAI/Qwen3-8B-NVFP4"]
    assert got["publish"] == f"127.0.0.1:{port}:{port}"
    inner = got["argv"]
    assert inner[inner.index("--host") + 1] == "0.0.0.0" and inner[inner.index("--port") + 1] == str(port)
    assert any(m.endswith(":/root/.cache/huggingface/hub") for m in got["mounts"])
    assert got["env"]["HF_TOKEN"] == "hf_secret_value"  # reaches the container...
    record = json.loads((tmp_path / "state" / "servers" / "boxed.json").read_text())
    assert got["env"]["VLLM_API_KEY"] == "sk-boxed-key"  # the server is guarded, and it answered our checks
    assert "hf_secret_value" not in json.dumps(record)  # ...but never through argv or the record
    assert "sk-boxed-key" not in json.dumps(record) and record["argv"][
        record["argv"].index("VLLM_API_KEY") - 1:record["argv"].index("VLLM_API_KEY") + 1] == ["-e", "VLLM_API_KEY"]
    assert record["argv"][:2] == [str(docker), "run"] and IMAGE in record["argv"]
    assert record["container"] == "spark-tui-boxed" and record["image"] == IMAGE
    # The image says it is vLLM 0.15.1: the plan follows that era (utilization 0.9, not 0.92).
    assert inner[inner.index("--gpu-memory-utilization") + 1] == "0.9"

    # Kill the docker CLI from outside: the container keeps running, ps says so, stop still ends it.
    cli_process = next(p for p in own_processes(str(tmp_path), "fake_docker.py") if "run" in p.info["cmdline"])
    cli_process.send_signal(signal.SIGKILL)
    server = wait_state(cli, "boxed", ("failed",))
    assert "its container may still run" in server["progress"]
    assert leftover(tmp_path), "the container should have outlived its CLI"
    assert cli("stop", "boxed").code == 0
    deadline = time.monotonic() + 10
    while leftover(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftover(tmp_path) == []


def test_image_version_without_a_label_is_asked_once_and_remembered(cli, docker, tmp_path):
    port = free_port()
    r = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "h100", "--image", IMAGE, "--port", str(port),
            "--name", "asked", "--wait", "20", env={"FAKE_VLLM_VERSION": "0.12.0"})
    assert r.code == 0, r.err
    remembered = json.loads((Path(os.environ["SPARK_TUI_CACHE_DIR"]) / "image-versions.json").read_text())
    assert list(remembered.values()) == ["0.12.0"]
    inner = seen(tmp_path, "asked")["argv"]
    assert inner[inner.index("--gpu-memory-utilization") + 1] == "0.9"
    assert cli("stop", "asked").code == 0
    assert leftover(tmp_path) == []


def test_auto_picks_what_the_machine_has_and_says_how_to_get_one(cli, docker, tmp_path):
    path = f"{docker.parent}:/usr/bin:/bin"  # no vllm on PATH
    r = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--dry-run", "--port", "8123",
            env={"PATH": path})
    assert r.code == 0, r.err
    assert r.out.startswith(f"{docker} run --rm --name spark-tui-NAME --gpus all") and f" {IMAGE} vllm serve " in r.out
    r = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--port", str(free_port()),
            env={"PATH": path, "FAKE_DOCKER_IMAGES": "ubuntu:24.04"})
    assert r.code == 3 and "No vLLM found: no `vllm` on PATH and no vLLM image in docker." in r.err
    assert "docker pull nvcr.io/nvidia/vllm:" in r.err and "Traceback" not in r.err
    r = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--runtime", "container",
            env={"SPARK_TUI_DOCKER": "", "PATH": "/usr/bin:/bin"})
    assert r.code == 3 and "needs docker" in r.err


def test_settings_file_chooses_the_runtime_and_bad_settings_are_one_sentence(cli, docker, tmp_path):
    config = Path(os.environ["SPARK_TUI_CONFIG_DIR"]) if os.environ.get("SPARK_TUI_CONFIG_DIR") else tmp_path / "cfg"
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text('[serve]\nruntime = "container"\nimage = "nvcr.io/nvidia/vllm:25.09-py3"\n')
    r = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--dry-run", env={"SPARK_TUI_CONFIG_DIR":
            str(config)})
    assert r.code == 0 and " nvcr.io/nvidia/vllm:25.09-py3 vllm serve " in r.out, r.err
    (config / "config.toml").write_text('[serve]\nruntime = "podman"\n')
    r = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", env={"SPARK_TUI_CONFIG_DIR": str(config)})
    assert r.code == 3 and "Unknown runtime 'podman'" in r.err and "Traceback" not in r.err
    (config / "config.toml").write_text('[serve\n')
    r = cli("serve", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", env={"SPARK_TUI_CONFIG_DIR": str(config)})
    assert r.code == 3 and "Cannot read the settings file" in r.err and "Traceback" not in r.err


def test_the_apps_version_probe_never_starts_a_container(docker, tmp_path, monkeypatch):
    # The app's header asks which vLLM a launch would run; for an image without a version label or VLLM_VERSION,
    # `serve` runs `vllm --version` in it once, but the app must not start a container just to draw its header.
    from spark_tui.engines import runtime as runtime_module
    from spark_tui.engines.runtime import VllmRuntime, version_of

    monkeypatch.setenv("SPARK_TUI_CACHE_DIR", str(tmp_path / "cache"))
    ran: list[list[str]] = []
    real = runtime_module._run_version
    monkeypatch.setattr(runtime_module, "_run_version",
                        lambda argv, engine="vllm": ran.append(argv) or real(argv, engine))
    runtime = VllmRuntime("container", str(docker), IMAGE)
    assert version_of(runtime, run_image=False) is None and ran == []  # no `docker run`
    assert version_of(runtime) is not None and ran[0][1:2] == ["run"]  # serve's probe runs it, and remembers
    assert version_of(runtime, run_image=False) == version_of(runtime) and len(ran) == 1  # the remembered answer
