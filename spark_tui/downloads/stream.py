"""One file's bytes from the Hub into its partial file, written as they arrive, hashed on the way.

Why not huggingface_hub's `http_get`: it reads 10 MiB at a time before it writes or reports anything, so on a slow
link progress read 0 B/s, a stop waited for the chunk in flight (48 s) and then dropped it. Here each piece the
network hands over is written, counted and checked against `cancel` at once; the request itself still goes
through huggingface_hub (`http_stream_backoff`, its session, headers and HTTP errors). A file is complete only when
its length and its checksum (sha256 for LFS files, the git blob sha1 for others) are the Hub's."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spark_tui.errors import SparkTuiError

MAX_ATTEMPTS_WITHOUT_DATA = 5  # as huggingface_hub's own downloader
# An attempt that ends short counts as a failure unless it brought at least this much: a link that drops now and
# then still finishes a 60 GB file, but a server that sends a few bytes and hangs up every time is given up on.
MIN_PROGRESS_PER_ATTEMPT = 1 << 20


class DownloadCancelled(SparkTuiError):
    """The user stopped the pull; what arrived is kept for the next one."""

    exit_code = 130  # as an interrupted command


class ChecksumMismatch(SparkTuiError):
    """A downloaded file is not the one the Hub described; it was deleted."""


def _hasher(etag: str, size: int) -> Any:
    if len(etag) == 64:
        return hashlib.sha256()
    return hashlib.sha1(b"blob %d\0" % size)  # git's blob id: the header, then the content


def http_client() -> Any:
    """The HTTP client module huggingface_hub uses (its errors are what its calls raise)."""
    try:
        import httpx2 as httpx  # huggingface_hub 2.x
    except ImportError:
        import httpx  # type: ignore[no-redef]  # huggingface_hub 1.x
    return httpx


def fetch_into(url: str, part: Path, size: int, etag: str, headers: dict[str, str], cancel: threading.Event,
               counted: Callable[[int], None], name: str, timeout: float) -> None:
    """Append the rest of `url` to `part` (resuming from its length) until it holds `size` bytes whose checksum is
    `etag`. `counted(n)` hears every n bytes written (negative when a server ignores the resume and the file
    starts over). Raises DownloadCancelled with everything that arrived written; ChecksumMismatch with the part
    deleted; the last network error after repeated attempts that brought (next to) nothing. `timeout`: the longest
    wait for the server to answer or send the next bytes."""
    from huggingface_hub.utils import hf_raise_for_status, http_stream_backoff

    transient = http_client().TransportError  # network failures worth resuming after
    with open(part, "ab") as out:
        have = out.tell()
        if have > size:  # not this file after all: start over
            out.truncate(0)
            counted(-have)
            have = 0
        digest = _hasher(etag, size)
        with open(part, "rb") as previous:  # what an earlier attempt left counts towards the checksum
            while chunk := previous.read(1 << 22):
                digest.update(chunk)
        failures = 0
        while have < size:
            if cancel.is_set():
                raise DownloadCancelled("Download cancelled.")
            ranged = {**headers, "Range": f"bytes={have}-"} if have else dict(headers)
            started_at = have
            try:
                with http_stream_backoff(method="GET", url=url, headers=ranged, retry_on_exceptions=(),
                                         timeout=timeout,
                                         retry_on_status_codes=(408, 429)) as response:
                    hf_raise_for_status(response)
                    if have and response.status_code == 200:  # the server ignored the Range: start over
                        out.truncate(0)
                        counted(-have)
                        have, digest = 0, _hasher(etag, size)
                    for chunk in response.iter_bytes():  # as the network hands it over
                        out.write(chunk)
                        digest.update(chunk)
                        have += len(chunk)
                        counted(len(chunk))
                        if cancel.is_set():
                            out.flush()
                            raise DownloadCancelled("Download cancelled.")
                        if have > size:
                            break
            except transient:
                failures = 0 if have - started_at >= MIN_PROGRESS_PER_ATTEMPT else failures + 1
                if failures >= MAX_ATTEMPTS_WITHOUT_DATA:
                    raise
                if cancel.wait(1.0):
                    raise DownloadCancelled("Download cancelled.") from None
                continue
            if have < size:  # a body shorter than the file: resume it, but not for ever
                failures = 0 if have - started_at >= MIN_PROGRESS_PER_ATTEMPT else failures + 1
                if failures >= MAX_ATTEMPTS_WITHOUT_DATA:
                    break
    if have != size or digest.hexdigest() != etag:
        part.unlink(missing_ok=True)  # never keep bytes a resume would build on
        kind = "sha256" if len(etag) == 64 else "git sha1"
        why = f"{have} bytes where the Hub lists {size}" if have != size else f"its {kind} is not the Hub's"
        raise ChecksumMismatch(f"{name} did not match its checksum ({why}); it was discarded, nothing was stored.",
                               "Run the same pull again; if it happens again, the server (HF_ENDPOINT) is sending "
                               "wrong data.")
