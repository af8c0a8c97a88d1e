"""Names the Hub hands a pull become parts of paths in the HF cache (commit → snapshots/<commit>, ETag →
blobs/<etag>, file name → snapshots/<commit>/<name>): each is checked against the form the Hub uses before it is
used, and every path is resolved inside its folder before anything is written there. A hostile or broken endpoint
then gets a sentence, never a file written (or replaced by a link) outside the cache."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from spark_tui.errors import HubAnswerError

COMMIT = re.compile(r"[0-9a-f]{40}")
ETAG = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # git blob sha1 (regular files), sha256 (LFS), as normalised
MAX_NAME = 1024


def _shown(value: object) -> str:
    text = repr(value)  # escapes control characters: nothing hostile reaches the terminal
    return text if len(text) <= 80 else text[:77] + "…"


def _endpoint() -> str:
    from spark_tui.hub.fetch import current_endpoint

    return current_endpoint()


def check_commit(commit: object, model: str) -> str:
    if not isinstance(commit, str) or not COMMIT.fullmatch(commit):
        raise HubAnswerError(f"{_endpoint()} named an unsafe commit for {model} ({_shown(commit)}, not a 40-hex "
                             "commit id); nothing was written.", "Check HF_ENDPOINT; retry later.")
    return commit


def check_etag(etag: object, filename: str) -> str:
    if not isinstance(etag, str) or not ETAG.fullmatch(etag):
        raise HubAnswerError(f"{_endpoint()} gave {filename} an unsafe ETag ({_shown(etag)}, not a sha1 or sha256 "
                             "checksum); it was not stored.", "Check HF_ENDPOINT; retry later.")
    return etag


def is_safe_relative(name: object) -> bool:
    """A relative POSIX path that stays where it is put: no `..`, no absolute or empty parts, no backslash, no NUL
    or other control character."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME or name.startswith("/"):
        return False
    if "\\" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return False
    return all(part not in ("", ".", "..") for part in name.split("/")) and not PurePosixPath(name).is_absolute()


def check_filename(name: object, model: str) -> str:
    if not is_safe_relative(name):
        raise HubAnswerError(f"{_endpoint()} listed an unsafe file name in {model} ({_shown(name)}); nothing was "
                             "written.", "Check HF_ENDPOINT; a real Hub repo never holds such a name.")
    return str(name)


def inside(root: Path, relative: str, follow_last: bool = True) -> Path:
    """`root / relative`, resolved (symlinks too) and proven to stay inside `root`. With `follow_last=False` the last
    part is kept as it is (a link that is about to be replaced, not followed)."""
    target = root / relative
    resolved = target.resolve() if follow_last else target.parent.resolve() / target.name
    if not resolved.is_relative_to(root.resolve()):
        raise HubAnswerError(f"Refusing to write {target}: it leads outside {root}.",
                             "Something in the HF cache links outside it; check the cache folder.")
    return resolved
