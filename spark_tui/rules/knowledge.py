"""The knowledge: the active rules set, with the date it is current to (`as_of`) and where it came from.

The built-in set ships with spark-tui (rules/knowledge.toml, known-issues/, engines.toml). `spark-tui rules update`
installs newer sets under <config>/rules-sets/<id>/ and names the active one in a pointer file, active.json,
replaced whole with os.replace (spark_tui.rules.update writes it). The built-in set is the floor: with no pointer,
a damaged one, a missing set folder, or an installed set older than the built-in one (after upgrading spark-tui),
the built-in set is active.

This module is on the path of every `check`: it reads one small JSON file and a cached manifest, nothing more.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spark_tui.paths import config_dir, data_dir

BUILTIN = "builtin"
MANIFEST = "knowledge.toml"
POINTER = "active.json"
SET_ID = r"^\d{4}-\d{2}-\d{2}-[0-9a-f]{16}$"  # <as_of>-<content digest>: checked before it is a path
DATE = r"^\d{4}-\d{2}-\d{2}$"  # patterns compiled on first use (re caches them)


@dataclass(frozen=True)
class Knowledge:
    """A rules set: its date, where it came from and where its files are."""

    as_of: str  # YYYY-MM-DD
    source: str  # "builtin", "hf:OWNER/NAME@SHA" or a folder path
    folder: Path  # the set: known-issues/, knowledge.toml, maybe engines.toml
    set_id: str | None = None  # None for the built-in set

    @property
    def known_issues(self) -> Path:
        return self.folder / "known-issues"

    @property
    def engines_file(self) -> Path:
        """The set's own engines.toml (newest_known per engine), else the built-in one."""
        own = self.folder / "engines.toml"
        return own if self.set_id is None or own.is_file() else data_dir() / "engines.toml"

    @property
    def label(self) -> str:
        return f"knowledge {self.as_of} ({self.source})"

    @property
    def short_label(self) -> str:
        """For the app's header: a Hub commit cut to 12 characters, as the app shows commits elsewhere."""
        source = re.sub(r"^(hf:[^@]+@[0-9a-f]{12})[0-9a-f]{28}$", r"\1", self.source)
        return f"knowledge {self.as_of} ({source})"


@dataclass(frozen=True)
class SetEntry:
    """One installed rules set, as named in active.json."""

    id: str
    as_of: str
    source: str


@dataclass(frozen=True)
class State:
    """What active.json says: the active installed set (None: the built-in one) and the sets before it."""

    active: SetEntry | None = None
    previous: tuple[SetEntry, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        def entry(e: SetEntry) -> dict[str, str]:
            return {"id": e.id, "as_of": e.as_of, "source": e.source}

        return {"active": entry(self.active) if self.active else None, "previous": [entry(e) for e in self.previous]}


def store_dir() -> Path:
    return config_dir() / "rules-sets"


def read_manifest(path: Path) -> str:
    """The as_of date of a set's knowledge.toml; ValueError with a sentence if it is missing or wrong."""
    import tomllib  # only on a cache miss or an update: ~4 ms of import

    from spark_tui.rules.loader import read_text

    text, problem = read_text(path)
    if text is None:
        raise ValueError(problem or f"{path}: cannot read")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path.name}: TOML syntax error: {exc}") from None
    as_of = data.get("as_of")
    if not isinstance(as_of, str) or not _is_date(as_of):
        raise ValueError(f"{path.name}: as_of must be a date written \"YYYY-MM-DD\"")
    unknown = sorted(set(data) - {"as_of", "note"})
    if unknown or not isinstance(data.get("note", ""), str):
        raise ValueError(f"{path.name}: only as_of (a date) and note (text) belong here, not {unknown or ['note']}")
    return as_of


def _is_date(text: str) -> bool:
    import datetime

    if not re.match(DATE, text):
        return False
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def builtin_knowledge() -> Knowledge:
    from spark_tui.datacache import cached

    folder = data_dir()
    as_of = cached("knowledge", [Path(__file__), folder / MANIFEST], lambda: read_manifest(folder / MANIFEST), str)
    return Knowledge(as_of, BUILTIN, folder)


def _entry(value: Any) -> SetEntry | None:
    if not isinstance(value, dict):
        return None
    set_id, as_of, source = value.get("id"), value.get("as_of"), value.get("source")
    if not (isinstance(set_id, str) and re.match(SET_ID, set_id) and isinstance(as_of, str) and re.match(DATE, as_of)
            and isinstance(source, str) and source):
        return None
    return SetEntry(set_id, as_of, source)


def read_state(store: Path | None = None) -> State:
    """active.json, or the empty state (built-in active) when it is missing or damaged: never half-believed."""
    path = (store or store_dir()) / POINTER
    try:
        data = json.loads(path.read_bytes()[:65536])
    except (OSError, ValueError):
        return State()
    if not isinstance(data, dict) or not isinstance(data.get("previous", []), list):
        return State()
    active = _entry(data.get("active"))
    previous = tuple(e for e in map(_entry, data.get("previous", [])) if e is not None)
    return State(active, previous) if active else State(None, previous)


def active_knowledge() -> Knowledge:
    builtin = builtin_knowledge()
    entry = read_state().active
    if entry is None or entry.as_of < builtin.as_of:  # a newer spark-tui ships newer knowledge than the update
        return builtin
    folder = store_dir() / entry.id
    if not (folder / "known-issues").is_dir():  # removed by hand: the floor, not an empty rules set
        return builtin
    return Knowledge(entry.as_of, entry.source, folder, entry.id)


def stale_for(engine: str, version: str | None, newest_known: dict[str, str]) -> bool:
    """Is the engine version advised for newer than the newest release this knowledge was written against?"""
    newest = newest_known.get(engine)
    if not version or not newest:
        return False
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) > Version(newest)
    except InvalidVersion:
        return False
