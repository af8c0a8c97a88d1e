"""User settings: <config>/config.toml, each overridable by an environment variable.

    [serve]
    runtime = "auto"        # auto | local | container   (SPARK_TUI_RUNTIME)
    vllm = "~/venvs/vllm/bin/vllm"                        # (SPARK_TUI_VLLM)
    image = "nvcr.io/nvidia/vllm:26.05.post1-py3"         # (SPARK_TUI_IMAGE)
    docker = "docker"                                     # (SPARK_TUI_DOCKER)

    [cluster]                  # several nodes: see spark_tui/cluster/config.py (and README, "Several Sparks")
    nodes = ["spark-a", "spark-b"]
    interface = "enp1s0f1np1"

    [rules]
    source = "hf:OWNER/NAME"   # where `spark-tui rules update` fetches from (SPARK_TUI_RULES_SOURCE)

A damaged file is reported in one sentence, never half-read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spark_tui.errors import UsageError
from spark_tui.paths import config_dir

if TYPE_CHECKING:
    from spark_tui.cluster.config import ClusterConfig

RUNTIMES = ("auto", "local", "container")


@dataclass(frozen=True)
class ServeSettings:
    runtime: str = "auto"
    vllm: str | None = None
    image: str | None = None
    docker: str | None = None


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

    def pick(key: str, env: str) -> str | None:
        value = os.environ.get(env) or serve.get(key)
        if value is not None and not isinstance(value, str):
            raise UsageError(f"In {path}, serve.{key} must be a string.")
        return value or None

    runtime = pick("runtime", "SPARK_TUI_RUNTIME") or "auto"
    if runtime not in RUNTIMES:
        raise UsageError(f"Unknown runtime '{runtime}' (in {path} or SPARK_TUI_RUNTIME).",
                         f"Use one of: {', '.join(RUNTIMES)}.")
    return ServeSettings(runtime, pick("vllm", "SPARK_TUI_VLLM"), pick("image", "SPARK_TUI_IMAGE"),
                         pick("docker", "SPARK_TUI_DOCKER"))


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
