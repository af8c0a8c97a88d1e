"""User settings: <config>/config.toml, each overridable by an environment variable.

    [serve]
    runtime = "auto"        # auto | local | container   (SPARK_TUI_RUNTIME)
    vllm = "~/venvs/vllm/bin/vllm"                        # (SPARK_TUI_VLLM)
    image = "nvcr.io/nvidia/vllm:26.05.post1-py3"         # (SPARK_TUI_IMAGE)
    docker = "docker"                                     # (SPARK_TUI_DOCKER)

    [serve.llamacpp]        # llama.cpp's llama-server (spark-tui serve --engine llamacpp)
    executable = "~/llama.cpp/build/bin/llama-server"     # (SPARK_TUI_LLAMACPP_EXECUTABLE)
    image = "ghcr.io/ggml-org/llama.cpp:server-cuda13"    # (SPARK_TUI_LLAMACPP_IMAGE)

    [serve.trtllm]          # TensorRT-LLM's trtllm-serve (spark-tui serve --engine trtllm)
    executable = "~/venvs/trtllm/bin/trtllm-serve"        # (SPARK_TUI_TRTLLM_EXECUTABLE)
    image = "nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc13"  # (SPARK_TUI_TRTLLM_IMAGE)

    [cluster]                  # several nodes: see spark_tui/cluster/config.py (and README, "Several Sparks")
    nodes = ["spark-a", "spark-b"]
    interface = "enp1s0f1np1"

    [rules]
    source = "hf:OWNER/NAME"   # where `spark-tui rules update` fetches from (SPARK_TUI_RULES_SOURCE)

A damaged file is reported in one sentence, never half-read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spark_tui.errors import UsageError
from spark_tui.paths import config_dir

if TYPE_CHECKING:
    from spark_tui.cluster.config import ClusterConfig

RUNTIMES = ("auto", "local", "container")
# The engines besides vLLM whose server spark-tui runs, each with its own [serve.ENGINE] table.
OTHER_ENGINES = ("llamacpp", "trtllm")


@dataclass(frozen=True)
class ServeSettings:
    runtime: str = "auto"
    vllm: str | None = None
    image: str | None = None
    docker: str | None = None
    # engine -> (executable, image) for the engines besides vLLM, whose are the two fields above.
    others: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def program(self, engine: str) -> tuple[str | None, str | None]:
        """The configured executable and image of an engine's server (None: not set)."""
        if engine == "vllm":
            return self.vllm, self.image
        return self.others.get(engine, (None, None))


def _read_settings() -> tuple[Path, dict[str, Any]]:
    import tomllib

    path = config_dir() / "config.toml"
    try:
        return path, tomllib.loads(path.read_text())
    except FileNotFoundError:
        return path, {}
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"Cannot read the settings file {path}: {exc}.", "Fix it or move it aside.") from None


def rules_source_setting() -> str | None:
    """The default source of `spark-tui rules update`: SPARK_TUI_RULES_SOURCE, else [rules] source."""
    env = os.environ.get("SPARK_TUI_RULES_SOURCE")
    if env:
        return env
    path, data = _read_settings()
    rules = data.get("rules", {})
    if not isinstance(rules, dict):
        raise UsageError(f"In {path}, [rules] must be a table.")
    source = rules.get("source")
    if source is not None and not isinstance(source, str):
        raise UsageError(f"In {path}, rules.source must be a string.")
    return source or None


def load_serve_settings() -> ServeSettings:
    path, data = _read_settings()
    serve = data.get("serve", {})
    if not isinstance(serve, dict):
        raise UsageError(f"In {path}, [serve] must be a table.")

    def pick(key: str, env: str, table: dict[str, Any] = serve, where: str = "serve") -> str | None:
        value = os.environ.get(env) or table.get(key)
        if value is not None and not isinstance(value, str):
            raise UsageError(f"In {path}, {where}.{key} must be a string.")
        return value or None

    others: dict[str, tuple[str | None, str | None]] = {}
    for engine in OTHER_ENGINES:
        table = serve.get(engine, {})
        if not isinstance(table, dict):
            raise UsageError(f"In {path}, [serve.{engine}] must be a table.")
        prefix = f"SPARK_TUI_{engine.upper()}_"
        others[engine] = (pick("executable", prefix + "EXECUTABLE", table, f"serve.{engine}"),
                          pick("image", prefix + "IMAGE", table, f"serve.{engine}"))

    runtime = pick("runtime", "SPARK_TUI_RUNTIME") or "auto"
    if runtime not in RUNTIMES:
        raise UsageError(f"Unknown runtime '{runtime}' (in {path} or SPARK_TUI_RUNTIME).",
                         f"Use one of: {', '.join(RUNTIMES)}.")
    return ServeSettings(runtime, pick("vllm", "SPARK_TUI_VLLM"), pick("image", "SPARK_TUI_IMAGE"),
                         pick("docker", "SPARK_TUI_DOCKER"), others)


def has_cluster_settings() -> bool:
    """The settings file has a [cluster] table (whether it is valid is load_cluster_settings' to say)."""
    return "cluster" in _read_settings()[1]


def load_cluster_settings() -> ClusterConfig:
    """The `[cluster]` table, every value validated (one sentence naming the key for a bad one).
    SPARK_TUI_SSH_CONFIG overrides cluster.ssh_config (the file given to ssh -F)."""
    from spark_tui.cluster.config import parse_cluster

    path, data = _read_settings()
    if "cluster" not in data:
        raise UsageError(f"No [cluster] in {path}: name the nodes first.",
                         'For example: [cluster] nodes = ["spark-a", "spark-b"] and interface = "enp1s0f1np1" '
                         "(README: Several Sparks).")
    return parse_cluster(data["cluster"], str(path), os.environ.get("SPARK_TUI_SSH_CONFIG") or None)
