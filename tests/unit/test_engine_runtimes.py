"""Where each engine's server runs: settings per engine, the container command for each engine's image (model files
of the HF cache named by their place in the mounted cache), and which images of docker belong to which engine."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from spark_tui.engines.runtime import CONTAINER_HUB_CACHE, EngineRuntime, local_images, resolve_runtime
from spark_tui.errors import UsageError
from spark_tui.settings import ServeSettings, load_serve_settings


def _settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("SPARK_TUI_CONFIG_DIR", str(tmp_path / "config"))
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "config.toml").write_text(text)


def test_each_engine_has_its_own_executable_and_image_setting(tmp_path, monkeypatch):
    _settings_file(tmp_path, monkeypatch, '[serve]\nvllm = "/v/vllm"\nimage = "nvcr.io/nvidia/vllm:x"\n'
                   '[serve.llamacpp]\nexecutable = "/l/llama-server"\n'
                   'image = "ghcr.io/ggml-org/llama.cpp:server-cuda13"\n'
                   '[serve.trtllm]\nimage = "nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc13"\n')
    settings = load_serve_settings()
    assert settings.program("vllm") == ("/v/vllm", "nvcr.io/nvidia/vllm:x")
    assert settings.program("llamacpp") == ("/l/llama-server", "ghcr.io/ggml-org/llama.cpp:server-cuda13")
    assert settings.program("trtllm") == (None, "nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc13")
    monkeypatch.setenv("SPARK_TUI_TRTLLM_EXECUTABLE", "/t/trtllm-serve")
    assert load_serve_settings().program("trtllm")[0] == "/t/trtllm-serve"


@pytest.mark.parametrize("text, words", [
    ('[serve]\nllamacpp = "x"\n', "[serve.llamacpp] must be a table"),
    ('[serve.trtllm]\nimage = 3\n', "serve.trtllm.image must be a string"),
])
def test_a_bad_engine_table_is_said_in_one_sentence(tmp_path, monkeypatch, text, words):
    _settings_file(tmp_path, monkeypatch, text)
    with pytest.raises(UsageError, match=words.replace(".", r"\.").replace("[", r"\[").replace("]", r"\]")):
        load_serve_settings()


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_local_runtime_is_the_engines_own_executable(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    _executable(tmp_path / "bin" / "llama-server")
    runtime = resolve_runtime(ServeSettings(runtime="local"), engine="llamacpp")
    assert runtime.engine == "llamacpp" and Path(runtime.executable).name == "llama-server"
    with pytest.raises(UsageError, match="No trtllm-serve found"):
        resolve_runtime(ServeSettings(runtime="local"), engine="trtllm")
    # No vllm on PATH: a llama-server is not taken for one.
    with pytest.raises(UsageError, match="No vLLM found"):
        resolve_runtime(ServeSettings(runtime="local"), engine="vllm")


def test_llama_server_in_its_image_gets_the_gguf_by_its_place_in_the_mounted_cache(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(hub))
    gguf = hub / "models--org--m-GGUF" / "snapshots" / "abc" / "m-Q4_K_M.gguf"
    runtime = EngineRuntime("container", "/usr/bin/docker", "ghcr.io/ggml-org/llama.cpp:server-cuda13",
                            engine="llamacpp")
    argv = runtime.command(["llama-server", "-m", str(gguf), "--host", "127.0.0.1", "--port", "8080"], "s1",
                           "127.0.0.1", 8080, {})
    image_at = argv.index("ghcr.io/ggml-org/llama.cpp:server-cuda13")
    # The image's entrypoint is llama-server: its options follow the image directly.
    assert argv[image_at + 1:] == ["-m", f"{CONTAINER_HUB_CACHE}/models--org--m-GGUF/snapshots/abc/m-Q4_K_M.gguf",
                                   "--host", "0.0.0.0", "--port", "8080"]
    assert f"{hub}:{CONTAINER_HUB_CACHE}" in argv and "127.0.0.1:8080:8080" in argv


def test_a_gguf_outside_the_cache_is_mounted_read_only_at_its_own_path(tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    model = tmp_path / "models" / "x.gguf"
    model.parent.mkdir()
    model.write_bytes(b"GGUF")
    runtime = EngineRuntime("container", "docker", "nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc13", engine="trtllm")
    argv = runtime.command(["trtllm-serve", str(model.parent), "--port", "8000"], "s", "127.0.0.1", 8000, {})
    assert f"{model.parent}:{model.parent}:ro" in argv
    image_at = argv.index("nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc13")
    assert argv[image_at + 1:image_at + 3] == ["trtllm-serve", str(model.parent)]
    llama = EngineRuntime("container", "docker", "ghcr.io/ggml-org/llama.cpp:server-cuda13", engine="llamacpp")
    argv = llama.command(["llama-server", "-m", str(model)], "s", "127.0.0.1", 8000, {})
    assert f"{model.parent}:{model.parent}:ro" in argv and str(model) in argv


def test_each_engine_recognises_only_its_own_images(tmp_path):
    docker = _executable(tmp_path / "docker")
    docker.write_text("#!/bin/sh\nprintf '%s\\n' nvcr.io/nvidia/vllm:26.05.post1-py3 "
                      "ghcr.io/ggml-org/llama.cpp:server-cuda13 ghcr.io/ggml-org/llama.cpp:server-cuda "
                      "nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc13 ubuntu:24.04\n")
    os.chmod(docker, 0o755)
    assert local_images(str(docker), "vllm") == ["nvcr.io/nvidia/vllm:26.05.post1-py3"]
    assert local_images(str(docker), "llamacpp") == ["ghcr.io/ggml-org/llama.cpp:server-cuda13",
                                                     "ghcr.io/ggml-org/llama.cpp:server-cuda"]
    assert local_images(str(docker), "trtllm") == ["nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc13"]
