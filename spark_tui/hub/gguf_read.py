"""Read the header of a GGUF file — never the whole file: from the Hub with HTTP Range requests through
huggingface_hub's own session (`hf_hub_url`, `build_hf_headers`, `get_session`, `hf_raise_for_status`: the
installed huggingface_hub's documented helpers, so HF_ENDPOINT, tokens and proxies apply as for its downloads),
or from a local file. The first read asks for 64 KiB; when the header is longer (a 150k-token vocabulary is a few
MiB), the next read asks for what the parser said it needs, up to MAX_HEADER_BYTES. The body is streamed and cut at
the asked size, so a server that ignores Range still sends no more than that.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from spark_tui.errors import ModelDataError
from spark_tui.hub.gguf import MAX_HEADER_BYTES, NeedMoreBytes, NotGGUF, kept_keys, parse_header

FIRST_READ = 64 << 10


def _grow(read: Any, label: str) -> dict[str, Any]:
    """Parse the prefix `read(n)` returns, asking for more while the header goes on."""
    want = FIRST_READ
    while True:
        data = read(want)
        try:
            header = parse_header(data)
        except NeedMoreBytes as more:
            if len(data) < want:  # the file ended first
                raise ModelDataError(f"{label} ends inside its GGUF header: it is cut off or not a GGUF file.",
                                     "Re-download it, or pick another variant (--quant / --gguf-file).") from None
            if more.needed > MAX_HEADER_BYTES:
                raise ModelDataError(f"{label} has a GGUF header longer than {MAX_HEADER_BYTES >> 20} MiB: "
                                     "not one spark-tui reads.") from None
            want = min(MAX_HEADER_BYTES, max(more.needed + FIRST_READ, want * 4))
            continue
        except NotGGUF as exc:
            raise ModelDataError(f"{label} is not a GGUF file spark-tui understands ({exc}).",
                                 "Pick another variant (--quant / --gguf-file), or tell the repo's author.") from None
        # The vocabulary's size is the length of tokenizer.ggml.tokens (llama-vocab.cpp n_tokens), which most
        # converted files do not repeat as {arch}.vocab_size; the array itself is not kept.
        return {"kv": kept_keys(header["kv"]), "params": header["params"], "tensor_count": header["tensor_count"],
                "read_bytes": len(data), "vocab_size": header["array_lengths"].get("tokenizer.ggml.tokens")}


def read_local_header(path: Path) -> dict[str, Any]:
    def read(n: int) -> bytes:
        try:
            with path.open("rb") as fh:
                return fh.read(n)
        except OSError as exc:
            raise ModelDataError(f"{path} cannot be read: {exc.strerror or exc}.",
                                 "Check the file's permissions.") from None

    return _grow(read, str(path))


def read_hub_header(repo_id: str, filename: str, revision: str, timeout: float) -> dict[str, Any]:
    """The header of `filename` (a name validated by hub.gguf.variants) at `revision` (a commit), all reads within
    `timeout` seconds together."""
    from spark_tui.deadline import call_with_deadline
    from spark_tui.hub.fetch import current_endpoint, hub_errors, quiet_hub

    quiet_hub()
    deadline = time.monotonic() + timeout

    def read(n: int) -> bytes:
        # huggingface_hub is imported here: only a GGUF check that misses the cache loads it.
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        url = hf_hub_url(repo_id, filename, revision=revision, endpoint=current_endpoint())
        headers = {**build_hf_headers(), "Range": f"bytes=0-{n - 1}", "Accept-Encoding": "identity"}
        left = max(0.1, deadline - time.monotonic())
        chunks: list[bytes] = []
        got = 0
        with get_session().stream("GET", url, headers=headers, timeout=left) as response:
            if response.status_code >= 400:
                response.read()
                hf_raise_for_status(response)
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                got += len(chunk)
                if got >= n:
                    break  # a server that ignored Range: stop here, the connection is dropped
        return b"".join(chunks)[:n]

    with hub_errors(repo_id, revision, timeout, cached=" and nothing is cached", deadline=deadline):
        return call_with_deadline(lambda: _grow(read, f"{filename} of {repo_id}"), timeout, name="spark-tui-gguf")
