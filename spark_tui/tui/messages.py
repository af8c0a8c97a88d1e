"""Typed messages the worker threads post to the app (the UI thread owns all state)."""

from __future__ import annotations

from textual.message import Message

from spark_tui.advisor.types import LaunchPlan
from spark_tui.hardware.facts import HardwareFacts
from spark_tui.hub.facts import ModelFacts
from spark_tui.hub.search import SearchHit
from spark_tui.tui.server_state import ServersSnapshot


class FactsLoaded(Message):
    def __init__(self, model: str, facts: ModelFacts | None, error: str | None, from_cache: bool,
                 unreachable: bool = False) -> None:
        super().__init__()
        self.model = model
        self.facts = facts
        self.error = error
        self.from_cache = from_cache
        self.unreachable = unreachable  # the Hub could not be reached (or timed out)


class HardwareProbed(Message):
    def __init__(self, hardware: HardwareFacts | None) -> None:
        super().__init__()
        self.hardware = hardware


class SearchFinished(Message):
    def __init__(self, query: str, hits: list[SearchHit], error: str | None) -> None:
        super().__init__()
        self.query = query
        self.hits = hits
        self.error = error


class ServersPolled(Message):
    def __init__(self, snapshot: ServersSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class BenchProgress(Message):
    """The app's bench of a server (b): `done` of `total` requests have ended."""

    def __init__(self, name: str, done: int, total: int) -> None:
        super().__init__()
        self.name = name
        self.done = done
        self.total = total


class ServerWorkDone(Message):
    """A bench, stop or removal from the list (`kind`) of server `name` ended; `message` says how."""

    def __init__(self, name: str, kind: str, message: str, severity: str = "information",
                 ok: bool = True) -> None:
        super().__init__()
        self.name = name
        self.kind = kind
        self.message = message
        self.severity = severity
        self.ok = ok


class ObservationsLoaded(Message):
    """The calibration store (spark_tui.calibration): what launches on this machine printed at start-up."""

    def __init__(self, observations: tuple) -> None:
        super().__init__()
        self.observations = observations


class Notice(Message):
    """A sentence from a worker for the user (launch, stop)."""

    def __init__(self, message: str, severity: str = "information") -> None:
        super().__init__()
        self.message = message
        self.severity = severity


class CacheScanned(Message):
    def __init__(self, listing: object) -> None:
        super().__init__()
        self.listing = listing


class RuntimeFound(Message):
    """What a launch of `engine` would run: local executable or container image, and its version (None: unknown);
    or, when there is none, why (`missing`)."""

    def __init__(self, engine: str, kind: str | None, description: str | None, image: str | None,
                 version: str | None, missing: str | None = None) -> None:
        super().__init__()
        self.engine, self.kind, self.description, self.image = engine, kind, description, image
        self.version, self.missing = version, missing


class LaunchFailed(Message):
    """A launch from the dialog failed: the plan as it was edited, the model's row and why."""

    def __init__(self, plan: LaunchPlan, model: str, error: str) -> None:
        super().__init__()
        self.plan, self.model, self.error = plan, model, error
