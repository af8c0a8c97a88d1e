"""A flaky, dead or hostile Hub, for every command that asks it: `check`, `check --json`, `pull --dry-run`, `pull`.

Each row puts one fault on one kind of Hub request (behind the fault proxy) and runs the real command. The faults
are forever (every retry meets them too), so the command must give up in words, within the Hub deadline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.faults.conftest import Sandbox, failure_object, judge
from tests.support.fault_proxy import FaultProxy
from tests.support.hub_emulator import HubEmulator

MODEL = "RedHatAI/Qwen3-8B-NVFP4"
TINY = "faults/tiny-model"  # real bytes, for pull

INFO = r"^/api/models/[^/]+/[^/]+(/revision/[^/]+)?$"
CONFIG = r"/resolve/[^/]+/config\.json$"
QUANT = r"/resolve/[^/]+/hf_quant_config\.json$"
SEARCH = r"^/api/models$"
WEIGHTS = r"/resolve/[^/]+/.*\.safetensors$"


def _sizes_as_strings(body: bytes) -> bytes:
    data = json.loads(body)
    for sibling in data.get("siblings", []):
        if "size" in sibling:
            sibling["size"] = str(sibling["size"])
        if "lfs" in sibling:
            sibling["lfs"]["size"] = str(sibling["lfs"]["size"])
    return json.dumps(data).encode()


def _drop_sha(body: bytes) -> bytes:
    data = json.loads(body)
    data.pop("sha", None)
    return json.dumps(data).encode()


def _flip_bytes(body: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in body)


# (fault name, kind, options). Applied to one request kind at a time.
TRANSPORT: list[tuple[str, str, dict[str, Any]]] = [
    ("HTTP 500, no error code", "status", {"status": 500}),
    ("HTTP 502", "status", {"status": 502}),
    ("HTTP 503 + Retry-After 1", "status", {"status": 503, "retry_after": "1"}),
    ("HTTP 429 + Retry-After 3600", "status", {"status": 429, "retry_after": "3600"}),
    ("HTTP 401, no error code", "status", {"status": 401}),
    ("HTTP 403, no error code", "status", {"status": 403}),
    ("HTTP 404, no error code", "status", {"status": 404}),
    ("hang (accepts, never answers)", "hang", {}),
    ("trickle 64 B/s", "trickle", {"rate_bps": 64}),
    ("truncated body (short read)", "truncate", {"keep_bytes": 20}),
    ("connection reset", "reset", {}),
    ("redirect loop", "redirect_loop", {}),
]
SHAPES: list[tuple[str, str, dict[str, Any]]] = [
    ("HTML page instead of JSON", "body", {"body": b"<html><body>Cloudflare says hi</body></html>",
                                           "content_type": "text/html"}),
    ("JSON list instead of object", "body", {"body": b"[1, 2, 3]"}),
    ("JSON null", "body", {"body": b"null"}),
    ("truncated JSON text", "body", {"body": b'{"id": "RedHatAI/Qwen3-8B-NVFP4", "siblings": [{"rfil'}),
    ("empty body", "body", {"body": b""}),
    ("oversized body (64 MiB of '[')", "oversize", {"extra_bytes": 64 << 20}),
]
INFO_ONLY: list[tuple[str, str, dict[str, Any]]] = [
    ("sizes as strings", "mangle", {"mangle": _sizes_as_strings}),
    ("no commit sha", "mangle", {"mangle": _drop_sha}),
]
CONFIG_ONLY: list[tuple[str, str, dict[str, Any]]] = [
    ("100,000 nested brackets", "body", {"body": b"[" * 100_000 + b"]" * 100_000}),
    ("binary junk", "mangle", {"mangle": _flip_bytes}),
]

CHECK_ROWS = (
    [("model info", INFO, *f) for f in TRANSPORT + SHAPES + INFO_ONLY]
    + [("config.json", CONFIG, *f) for f in TRANSPORT + SHAPES + CONFIG_ONLY]
    + [("hf_quant_config.json", QUANT, *f) for f in TRANSPORT[:3] + TRANSPORT[7:8] + SHAPES[:1]]
)


def _row_id(row: tuple[Any, ...]) -> str:
    return re.sub(r"[^\w]+", "-", f"{row[0]} {row[2]}").strip("-")


@pytest.mark.parametrize("row", CHECK_ROWS, ids=[_row_id(r) for r in CHECK_ROWS])
def test_check_under_a_faulty_hub(sandbox: Sandbox, proxy: FaultProxy, row: tuple[Any, ...]) -> None:
    target, pattern, fault, kind, options = row
    proxy.inject(pattern, kind, **options)
    outcome = sandbox.run("check", MODEL, "--hardware", "gb10", "--json")
    judge(outcome, area="hub", command="check MODEL --json", fault=f"{target}: {fault}")
    failure_object(outcome)  # the failure as one object on stdout, no half answer for a script to misread
    # Nothing wrong was remembered: with the Hub healthy again the same check answers from the Hub, not from
    # a cached "missing"/malformed answer.
    proxy.clear()
    again = sandbox.run("check", MODEL, "--hardware", "gb10", "--json", "--offline")
    assert again.code == 3, f"a faulty answer was cached: offline check answered {again.code}"


@pytest.mark.parametrize("row", [r for r in CHECK_ROWS if r[0] == "model info"],
                         ids=[_row_id(r) for r in CHECK_ROWS if r[0] == "model info"])
def test_pull_dry_run_under_a_faulty_hub(sandbox: Sandbox, proxy: FaultProxy, row: tuple[Any, ...]) -> None:
    target, pattern, fault, kind, options = row
    proxy.inject(pattern, kind, **options)
    outcome = sandbox.run("pull", MODEL, "--dry-run")
    judge(outcome, area="hub", command="pull MODEL --dry-run", fault=f"{target}: {fault}")


SEARCH_FAULTS = [f for f in TRANSPORT if f[1] in ("hang", "status", "reset")][:5] + SHAPES[:3]


@pytest.mark.parametrize("fault", SEARCH_FAULTS, ids=[re.sub(r"\W+", "-", f[0]) for f in SEARCH_FAULTS])
def test_did_you_mean_under_a_faulty_search(sandbox: Sandbox, proxy: FaultProxy,
                                            fault: tuple[str, str, dict[str, Any]]) -> None:
    name, kind, options = fault
    proxy.inject(SEARCH, kind, **options)
    outcome = sandbox.run("check", "RedHatAI/Qwen3-8B-NVFP5", "--hardware", "gb10")
    judge(outcome, area="hub", command="check MISSPELT-ID", fault=f"search: {name}", contains="No model")


@pytest.fixture(scope="module")
def tiny(hub_server: HubEmulator) -> str:
    config = json.dumps({"model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"], "hidden_size": 64,
                         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                         "intermediate_size": 128, "vocab_size": 1000, "max_position_embeddings": 4096,
                         "torch_dtype": "bfloat16"}).encode()
    weights = bytes(range(256)) * 4096  # 1 MiB, a real LFS file with a real sha256
    hub_server.add_repo(TINY, {"config.json": config, "model.safetensors": weights})
    return TINY


WEIGHT_FAULTS: list[tuple[str, str, dict[str, Any]]] = [
    *[f for f in TRANSPORT if f[1] != "trickle"],
    ("bytes that do not match the sha256", "mangle", {"mangle": _flip_bytes, "method": "GET"}),
]


@pytest.mark.parametrize("fault", WEIGHT_FAULTS, ids=[re.sub(r"\W+", "-", f[0]) for f in WEIGHT_FAULTS])
def test_pull_under_a_faulty_file_server(sandbox: Sandbox, proxy: FaultProxy, tiny: str,
                                         fault: tuple[str, str, dict[str, Any]]) -> None:
    name, kind, options = fault
    proxy.inject(WEIGHTS, kind, **options)
    outcome = sandbox.run("pull", tiny, "--json")
    judge(outcome, area="hub", command="pull TINY --json", fault=f"weights: {name}")
    # Nothing bad looks complete: no blob and no snapshot link for the weights.
    hub = sandbox.hf_home / "hub" / "models--faults--tiny-model"
    assert not list(hub.glob("snapshots/*/model.safetensors")), "a failed download looks complete"
    assert not [p for p in hub.glob("blobs/*") if p.stat().st_size == len(bytes(range(256)) * 4096)
                and p.read_bytes() != bytes(range(256)) * 4096], "wrong bytes were stored"


HANGS: list[tuple[str, Callable[[Sandbox], tuple[str, ...]]]] = [
    ("check", lambda box: ("check", MODEL, "--hardware", "gb10")),
    ("pull --dry-run", lambda box: ("pull", MODEL, "--dry-run")),
]


@pytest.mark.parametrize("command", HANGS, ids=[h[0] for h in HANGS])
def test_ctrl_c_is_obeyed_within_a_second_while_the_hub_hangs(sandbox: Sandbox, proxy: FaultProxy,
                                                              command: tuple[str, Any]) -> None:
    name, argv = command
    proxy.inject(INFO, "hang")
    proxy.inject(CONFIG, "hang")
    outcome = sandbox.run(*argv(sandbox), env={"SPARK_TUI_HUB_TIMEOUT": "60"}, interrupt_after=1.5)
    judge(outcome, area="hub", command=name, fault="Ctrl-C while the Hub hangs", codes=130, bound_s=3.0,
          sentence=False)

