"""`spark-tui rules update` and `rollback`: fetch a rules set, prove it, and make it the active one atomically.

A set is a folder: knowledge.toml (as_of, note), known-issues/*.toml and optionally engines.toml. It is copied
into a staging folder under the store, and the copy (not the source, which could change meanwhile) must pass
what `rules lint` checks and every rule's own cases. Then the staging folder is renamed to <as_of>-<digest> and
active.json is replaced with os.replace: a process killed at any point before that leaves the previous set
active, and its leftovers are cleared by the next update.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from spark_tui.errors import EXIT_CAUTION, EXIT_UNKNOWN, SparkTuiError, UsageError
from spark_tui.rules.knowledge import (
    MANIFEST,
    POINTER,
    Knowledge,
    SetEntry,
    State,
    active_knowledge,
    read_manifest,
    read_state,
    store_dir,
)

ENGINES = "engines.toml"
MAX_FILES = 500  # far above any real rules set; stops a folder of everything from being copied
KEEP_PREVIOUS = 5  # sets kept for rollback; older ones are deleted
_HF = re.compile(r"^hf:([A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95})(?:@([A-Za-z0-9][\w.\-/]{0,127}))?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
PATTERNS = [MANIFEST, ENGINES, "known-issues/*.toml", "known-issues/**/*.toml"]


class UpdateRefused(SparkTuiError):
    """The set was fetched but not activated (it fails lint or its cases, is older, or is what is active)."""

    exit_code = EXIT_CAUTION

    def __init__(self, message: str, hint: str | None = None, as_of: str | None = None, source: str | None = None,
                 rules: int | None = None) -> None:
        super().__init__(message, hint)
        self.as_of, self.source, self.rules = as_of, source, rules


class FetchFailed(SparkTuiError):
    """The set could not be fetched (the Hub, the network, a missing folder)."""

    exit_code = EXIT_UNKNOWN


@dataclass(frozen=True)
class Outcome:
    knowledge: Knowledge
    rules: int


# --- where from ---

def resolve_source(given: str | None) -> str:
    from spark_tui.settings import rules_source_setting

    source = given or rules_source_setting()
    if not source:
        raise UsageError("No rules source: pass --source hf:OWNER/NAME[@REVISION] or a folder.",
                         "Or set it once: [rules] source = \"…\" in config.toml, or SPARK_TUI_RULES_SOURCE.")
    return source


def fetch(source: str) -> tuple[Path, str]:
    """(folder holding the set, the source as recorded: hf:OWNER/NAME@SHA or the folder's absolute path)."""
    if source.startswith("hf:"):
        match = _HF.match(source)
        if not match or ".." in source or source.endswith((".", "-", "/")):
            shown = source if len(source) <= 80 else source[:80] + "…"
            raise UsageError(f"'{shown}' is not a Hugging Face repo as hf:OWNER/NAME[@REVISION].",
                             "Example: --source hf:my-org/spark-tui-rules@main")
        return _fetch_hub(match.group(1), match.group(2))
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise FetchFailed(f"Could not fetch rules: '{source}' is neither hf:OWNER/NAME[@REVISION] nor a folder.")
    return folder, str(folder.resolve())


def _fetch_hub(repo: str, revision: str | None) -> tuple[Path, str]:
    # huggingface_hub only here: its cache, token, HF_ENDPOINT and HF_HUB_OFFLINE work as for models.
    from huggingface_hub import snapshot_download

    from spark_tui.hub import hub_timeout
    from spark_tui.hub.fetch import hub_errors, quiet_hub
    from spark_tui.hub.reach import call_hub

    quiet_hub()
    timeout = hub_timeout()
    try:
        with hub_errors(repo, revision, timeout, cached=""):
            # repo_type "model": the rules are a handful of TOML files, and model repos are what the Hub (and
            # every mirror spark-tui talks to) serves for models already.
            folder = call_hub(lambda: snapshot_download(
                repo, revision=revision, repo_type="model", allow_patterns=PATTERNS), timeout, name="spark-tui-rules")
    except SparkTuiError as error:
        raise FetchFailed(f"Could not fetch rules from hf:{repo}: {error.message}", error.hint) from None
    path = Path(folder)
    commit = path.name if _COMMIT.match(path.name) else (revision or "main")
    return path, f"hf:{repo}@{commit}"


# --- proving a set ---

def _set_files(folder: Path) -> list[str]:
    """The set's files, relative to it: only these are copied."""
    if not (folder / MANIFEST).is_file():
        raise UpdateRefused(f"The rules set has no {MANIFEST} (as_of = \"YYYY-MM-DD\"); not activated.")
    if not (folder / "known-issues").is_dir():
        raise UpdateRefused("The rules set has no known-issues/ folder; not activated.")
    names = [MANIFEST] + ([ENGINES] if (folder / ENGINES).is_file() else [])
    names += sorted(p.relative_to(folder).as_posix() for p in (folder / "known-issues").rglob("*.toml")
                    if p.is_file())
    if len(names) > MAX_FILES:
        raise UpdateRefused(f"The rules set has {len(names)} files, more than {MAX_FILES}; not activated.")
    return names


def _write_file(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _stage(source: Path, staging: Path) -> None:
    from spark_tui.rules.loader import read_text

    for name in _set_files(source):
        text, problem = read_text(source / name)  # regular files under 1 MiB of UTF-8 only
        if text is None:
            raise UpdateRefused(f"{problem}; not activated.")
        _write_file(staging / name, text.encode())


def _stage_and_prove(folder: Path, staging: Path, label: str, force: bool) -> tuple[str, int]:
    _stage(folder, staging)
    as_of, rules = prove(staging, label)
    current = active_knowledge()
    if digest(staging) == digest(current.folder):
        raise UpdateRefused(f"Nothing to update: {label} is the active set ({current.label}).",
                            as_of=as_of, source=label, rules=rules)
    if as_of < current.as_of and not force:
        raise UpdateRefused(f"{label} is as of {as_of}, older than the active set ({current.label}); "
                            "not activated.", "Pass --force to activate it anyway.", as_of, label, rules)
    return as_of, rules


def digest(folder: Path) -> str:
    """The set's content: its files' names and bytes (the built-in folder's hardware/ and catalog are not part)."""
    h = hashlib.sha256()
    rules = sorted(p.relative_to(folder).as_posix() for p in (folder / "known-issues").rglob("*.toml"))
    names = [MANIFEST, ENGINES, *rules]
    for name in names:
        path = folder / name
        if path.is_file():
            h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _engines_problem(path: Path, required: set[str]) -> str | None:
    import tomllib

    from packaging.version import InvalidVersion, Version

    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return f"{ENGINES}: cannot be read: {exc}"
    missing = sorted(required - set(data))
    if missing:
        return f"{ENGINES}: no [{missing[0]}] table (every engine spark-tui advises for needs its newest_known)"
    for name, table in data.items():
        if not isinstance(table, dict) or not isinstance(table.get("title"), str) or \
                not isinstance(table.get("newest_known"), str):
            return f"{ENGINES}: [{name}] needs title and newest_known (strings)"
        try:
            Version(table["newest_known"])
        except InvalidVersion:
            return f"{ENGINES}: [{name}] newest_known {table['newest_known']!r} is not a version"
    return None


def prove(folder: Path, source: str) -> tuple[str, int]:
    """(as_of, rule count) of a staged set, or UpdateRefused naming its first problem and how many there are.
    The checks are those of `rules lint`: every rule valid, every case of every rule holding."""
    from spark_tui.rules.knowledge import builtin_knowledge
    from spark_tui.rules.lint import lint

    try:
        as_of = read_manifest(folder / MANIFEST)
    except ValueError as exc:
        raise UpdateRefused(f"{source} was not activated: {exc}.", source=source) from None
    report = lint(folder / "known-issues", against_builtin=False)  # exactly what `rules lint` asks, cases included
    problems = list(report.problems)
    if (folder / ENGINES).is_file():
        builtin_engines = builtin_knowledge().engines_file
        problem = _engines_problem(folder / ENGINES, set(_table_names(builtin_engines)))
        problems += [problem] if problem else []
    if not problems and not report.rules:
        problems = ["known-issues/ holds no rules"]
    if problems:
        first = problems[0].replace(f"{folder}{os.sep}", "")  # file:line inside the set, not the staging folder
        more = f" ({len(problems)} problems in all; see them with: spark-tui rules lint FOLDER)" \
            if len(problems) > 1 else ""
        raise UpdateRefused(f"{source} was not activated: {first}{more}.", as_of=as_of, source=source,
                            rules=report.rules)
    return as_of, report.rules


def _table_names(path: Path) -> list[str]:
    import tomllib

    return list(tomllib.loads(path.read_text()))


# --- the store ---

@contextlib.contextmanager
def _locked(store: Path) -> Iterator[None]:
    import fcntl

    store.mkdir(parents=True, exist_ok=True)
    with (store / ".lock").open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UpdateRefused("Another `spark-tui rules update` or `rollback` is running; try again when it "
                                "ends.") from None
        yield


def write_state(store: Path, state: State) -> None:
    """active.json replaced whole: a reader sees the old pointer or the new one, never a mix."""
    tmp = store / f".{POINTER}.{os.getpid()}.tmp"
    with tmp.open("w") as fh:
        json.dump(state.to_json(), fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, store / POINTER)
    with contextlib.suppress(OSError):  # the rename itself on disk (best effort: not every file system allows it)
        dir_fd = os.open(store, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _prune(store: Path, state: State) -> None:
    """Sets no longer reachable by rollback, and staging folders of updates that never finished."""
    keep = {e.id for e in (*state.previous, *([state.active] if state.active else []))}
    for entry in store.iterdir():
        if entry.is_dir() and not entry.is_symlink() and entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)


def _count(knowledge: Knowledge) -> int:
    from spark_tui.rules import load_rules

    return len(load_rules([knowledge.known_issues]).rules)


def update(source: str, force: bool = False) -> Outcome:
    store = store_dir()
    with _locked(store):
        _prune(store, read_state(store))
        folder, label = fetch(source)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=store))
        try:
            as_of, rules = _stage_and_prove(folder, staging, label, force)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        set_id = f"{as_of}-{digest(staging)[:16]}"
        if (store / set_id).is_dir():  # installed before (e.g. then rolled back): the same bytes
            shutil.rmtree(staging)
        else:
            os.rename(staging, store / set_id)
        state = read_state(store)
        previous = (*state.previous, *([state.active] if state.active else ()))[-KEEP_PREVIOUS:]
        new = State(SetEntry(set_id, as_of, label), tuple(e for e in previous if e.id != set_id))
        write_state(store, new)
        _prune(store, new)
    return Outcome(active_knowledge(), rules)


def rollback() -> Outcome:
    store = store_dir()
    with _locked(store):
        state = read_state(store)
        if state.active is None:
            raise UpdateRefused("Nothing to roll back to: the built-in rules set is active.")
        previous = [e for e in state.previous if (store / e.id / "known-issues").is_dir()]
        write_state(store, State(previous[-1] if previous else None, tuple(previous[:-1])))
    knowledge = active_knowledge()
    return Outcome(knowledge, _count(knowledge))
