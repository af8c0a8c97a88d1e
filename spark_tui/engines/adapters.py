"""One small interface per engine: everything the server subsystem must know about an engine, and nothing else.

An adapter turns a launch plan into the command a runtime runs, reads an edited command back into a plan, says how
to ask the running server whether it is ready, what its log lines mean (start-up phases and figures) and which
Prometheus names carry tokens, requests and KV use. The supervisor, `ps` and the app only talk to adapters; vLLM's
specifics live in spark_tui/engines/vllm.py, and llama.cpp's `llama-server` and TensorRT-LLM's `trtllm-serve`
have adapters of the same shape (engines/llamacpp.py, engines/trtllm.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from spark_tui.errors import UsageError
from spark_tui.metrics.scrape import MetricNames

if TYPE_CHECKING:
    from spark_tui.advisor.types import LaunchPlan
    from spark_tui.metrics.scrape import MetricsSample


class EngineAdapter(Protocol):
    name: str
    title: str  # the server's name in messages: "vLLM", "llama-server", "trtllm-serve"
    metric_names: MetricNames
    api_key_env: str | None  # the variable the server reads its API key from (None: it takes none)

    def command(self, plan: LaunchPlan, runtime: Any, server_name: str, secret_names: Sequence[str]) -> list[str]:
        """The argv that runs the plan in `runtime` (None: the plan's argv as it is)."""

    def read_command(self, plan: LaunchPlan, text: str) -> LaunchPlan:
        """The plan after the user edited its command in the launch dialog (raises UsageError with what it
        cannot read)."""

    def with_port(self, plan: LaunchPlan, port: int) -> LaunchPlan:
        """The plan listening on another port."""

    def ready(self, url: str, model: str, api_key: str | None) -> bool:
        """The server answers and serves `model`."""

    def scrape(self, url: str, api_key: str | None) -> MetricsSample | None:
        """One sample of the server's counters (tokens, requests, KV use) now; None when it did not answer."""

    def progress(self, lines: list[str]) -> str:
        """The furthest start-up phase the log shows."""

    def startup_figures(self, lines: list[str]) -> dict[str, Any]:
        """The memory figures one launch's log printed, and its outcome so far."""

    def our_request(self, line: str, host: str) -> bool:
        """The line logs one of spark-tui's own monitoring requests (health, models, metrics) to a server on
        `host`: left out of the log the app shows (the log on disk keeps it)."""


def adapter_for(engine: str) -> EngineAdapter:
    if engine == "vllm":
        from spark_tui.engines.vllm import VLLM

        return VLLM
    if engine == "llamacpp":
        from spark_tui.engines.llamacpp import LLAMACPP

        return LLAMACPP
    if engine == "trtllm":
        from spark_tui.engines.trtllm import TRTLLM

        return TRTLLM
    raise UsageError(f"spark-tui launches and watches vllm, llamacpp and trtllm, not {engine}.",
                     "Use --engine vllm (the default), llamacpp or trtllm.")
