"""The outside world as the app sees it: one factory builds the services for the CLI, tests pass their own.

Everything here is plain callables, data and small interfaces (the supervisor, the GPU sampler); nothing imports
Textual. Calls that may block (network, NVML, processes) are made by the app from worker threads only. The app
closes the services when it exits.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from spark_tui.hardware.facts import HardwareFacts
from spark_tui.hardware.profiles import HardwareProfile
from spark_tui.hub.facts import ModelFacts
from spark_tui.hub.search import SearchHit
from spark_tui.metrics.gpu import GpuSample
from spark_tui.rules.model import CatalogEntry, LoadResult

if TYPE_CHECKING:
    import threading

    from spark_tui.advisor.types import LaunchPlan
    from spark_tui.calibration import Observation
    from spark_tui.downloads.cache_view import CachedRevision, CacheListing
    from spark_tui.downloads.plan import DownloadPlan
    from spark_tui.downloads.transfer import TransferProgress
    from spark_tui.engines.records import ServerRecord
    from spark_tui.engines.runtime import EngineRuntime
    from spark_tui.engines.status import ServerStatus
    from spark_tui.metrics.bench import BenchResult
    from spark_tui.metrics.scrape import MetricsSample


class ServerControl(Protocol):
    """What the app asks of the server subsystem (spark_tui.engines.supervisor.Supervisor; tests pass doubles)."""

    def records(self) -> list[ServerRecord]: ...
    def external(self, records: list[ServerRecord] | None = None) -> list[ServerRecord]: ...
    def observe(self, record: ServerRecord, rules: list | None = None, answering: bool = False) -> ServerStatus: ...
    def sample(self, record: ServerRecord) -> list[MetricsSample]: ...
    def launch(self, plan: LaunchPlan, name: str | None = None, runtime: Any = None, api_key: str | None = None,
               prediction: dict[str, Any] | None = None) -> ServerRecord: ...
    def stop(self, name: str, timeout: float = 15.0) -> ServerStatus: ...
    def forget(self, name: str) -> None: ...  # off the list; refuses a server that runs
    def bench(self, name: str, *, progress: Callable[[int, int], None] | None = None) -> BenchResult: ...


class GpuSource(Protocol):
    def sample(self) -> list[GpuSample]: ...
    def close(self) -> None: ...


class NoGpus:
    """No NVIDIA GPU to sample (tests; machines without one)."""

    def sample(self) -> list[GpuSample]:
        return []

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class EngineStatus:
    name: str
    version: str | None  # the version that will run (installed, or found in the runtime), or None
    newest_known: str | None
    where: str | None = None  # what runs it: "local" (an executable) or a container image


@dataclass
class Services:
    load_facts: Callable[[str], ModelFacts]  # cache first, then the Hub (may block: call from a worker)
    cached_facts: Callable[[str], ModelFacts | None]  # cache only, any age; never the network
    search: Callable[[str], list[SearchHit]]  # the Hub (may block)
    probe_hardware: Callable[[], HardwareFacts | None]  # NVML; None when there is no NVIDIA GPU
    profiles: dict[str, HardwareProfile]
    rules: LoadResult
    catalog: list[CatalogEntry]
    engines: list[EngineStatus] = field(default_factory=list)
    knowledge: str | None = None  # which rules set `rules` came from, e.g. "knowledge 2026-12-02 (builtin)"
    docker: bool = False
    gpus: GpuSource = field(default_factory=NoGpus)  # NVML (sample from a worker)
    supervisor: ServerControl = field(default_factory=lambda: _supervisor())  # servers: records, launch, stop…
    # Where a launch of an engine ("vllm", "llamacpp", "trtllm") runs, from the settings.
    resolve_runtime: Callable[[str], EngineRuntime] = lambda engine: _resolve_runtime(engine)
    runtime_version: Callable[[EngineRuntime], str | None] = lambda runtime: _runtime_version(runtime)  # seconds
    port_is_free: Callable[[str, int], bool] = lambda host, port: _port_is_free(host, port)  # a local bind test
    next_free_port: Callable[[str, int], int] = lambda host, start: _next_free_port(host, start)
    plan_download: Callable[[str], DownloadPlan] = lambda model: _plan_download(model)  # the Hub + disk (a worker)
    pull: Callable[[DownloadPlan, TransferProgress, threading.Event], Any] = (
        lambda plan, progress, cancel: _pull(plan, progress, cancel))
    scan_cache: Callable[[HardwareFacts, list], CacheListing] = lambda hardware, rules: _scan_cache(hardware, rules)
    delete_cached: Callable[[list[CachedRevision]], int] = lambda revisions: _delete_cached(revisions)  # disk
    observations: Callable[[], list[Observation]] = lambda: _observations()  # what launches here printed (disk)

    def close(self) -> None:
        """When the app exits: let go of NVML."""
        self.gpus.close()


def _supervisor() -> ServerControl:
    from spark_tui.engines.supervisor import Supervisor

    return Supervisor()


def _runtime_version(runtime: EngineRuntime) -> str | None:
    from spark_tui.engines.runtime import version_of

    return version_of(runtime, run_image=False)  # labels, environment or a remembered answer: no container run


def _port_is_free(host: str, port: int) -> bool:
    from spark_tui.engines.supervisor import port_is_free

    return port_is_free(host, port)


def _next_free_port(host: str, start: int) -> int:
    from spark_tui.engines.supervisor import next_free_port

    return next_free_port(host, start)


def _resolve_runtime(engine: str) -> EngineRuntime:
    from spark_tui.engines.runtime import resolve_runtime
    from spark_tui.settings import load_serve_settings

    return resolve_runtime(load_serve_settings(), engine=engine)


def _plan_download(model: str) -> Any:
    from spark_tui.downloads.plan import make_plan

    return make_plan(model)


def _pull(plan: Any, progress: Any, cancel: Any) -> Any:
    from spark_tui.downloads.transfer import pull

    return pull(plan, progress, cancel)


def _scan_cache(hardware: Any, rules: list) -> Any:
    from spark_tui.downloads.cache_view import listing

    return listing(hardware, rules)


def _observations() -> list:
    from spark_tui import calibration

    calibration.settle()
    return calibration.load()


def _delete_cached(revisions: list) -> int:
    from spark_tui.downloads.cache_view import delete

    return delete(revisions)


def _cached_only(model: str) -> ModelFacts | None:
    from spark_tui.errors import SparkTuiError
    from spark_tui.hub import load_model_facts

    try:
        return load_model_facts(model, offline=True)
    except SparkTuiError:
        return None


def _probe() -> HardwareFacts | None:
    from spark_tui.hardware import describe_probe
    from spark_tui.hardware.host import read_meminfo
    from spark_tui.hardware.nvml import probe
    from spark_tui.hardware.profiles import load_profiles

    found = probe()
    if not found or not found.gpus:
        return None
    return describe_probe(found, read_meminfo(), load_profiles())


def default_services(extra_rules: list | None = None) -> Services:
    from spark_tui.engines.versions import installed_version, known_engines
    from spark_tui.hardware.profiles import load_profiles
    from spark_tui.hub import load_model_facts
    from spark_tui.hub.search import search_models
    from spark_tui.metrics.gpu import GpuSampler
    from spark_tui.paths import data_dir
    from spark_tui.rules import load_all_rules, load_catalog
    from spark_tui.rules.knowledge import active_knowledge

    catalog, _ = load_catalog(data_dir() / "catalog.toml")
    engines = [EngineStatus(e.name, installed_version(e.name), e.newest_known) for e in known_engines().values()]
    return Services(
        load_facts=lambda model: load_model_facts(model),
        cached_facts=_cached_only,
        search=lambda query: search_models(query),
        probe_hardware=_probe,
        profiles=load_profiles(),
        rules=load_all_rules(extra_rules),
        catalog=catalog,
        engines=engines,
        knowledge=active_knowledge().short_label,
        docker=shutil.which("docker") is not None,
        gpus=GpuSampler(),
    )
