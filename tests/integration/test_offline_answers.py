"""Without a network every Hub lookup says so at once (issue 13, bug 7).

huggingface_hub retries a refused connection or an unknown host name inside `list_models` and `hf_hub_download`
(1+2+4+8+8 s): a search took 23 s to fail, whatever SPARK_TUI_HUB_TIMEOUT said. A refused or unresolvable Hub must
answer within 3 s (the code answers in well under a second: the bounds leave room for a slow, busy machine), and a
hanging one within SPARK_TUI_HUB_TIMEOUT. The timeout is set to 30-60 s here so that only a fast answer passes.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from spark_tui.errors import HubUnavailableError
from spark_tui.hub import load_model_facts, reach
from tests.support.fault_proxy import closed_port

MODEL = "RedHatAI/Qwen3-8B-NVFP4"
CATALOG = ["RedHatAI/Qwen3-8B-NVFP4", "RedHatAI/Qwen3-32B-NVFP4", "RedHatAI/Qwen3-30B-A3B-NVFP4",
           "nvidia/Qwen3-32B-NVFP4", "nvidia/DeepSeek-R1-NVFP4", "openai/gpt-oss-20b", "openai/gpt-oss-120b",
           "nvidia/Llama-3.3-70B-Instruct-NVFP4"]
BOUND_S = 3.0  # the requirement; the answers measured here take 0.01-0.3 s
UNRESOLVABLE = "http://hub.invalid"  # .invalid never resolves (RFC 6761)


def _resolver_says_no_at_once() -> bool:
    """Whether this machine's resolver answers "no such host" for .invalid promptly (some resolvers are slow or
    answer every name): only then can "unresolvable answers within 3 s" be judged here."""
    start = time.monotonic()
    try:
        socket.getaddrinfo("hub.invalid", 80)
    except socket.gaierror:
        return time.monotonic() - start < 1.0
    return False


@pytest.fixture(params=["refused", "unresolvable"])
def dead_hub(request, hub, monkeypatch) -> Iterator[str]:
    if request.param == "unresolvable" and not _resolver_says_no_at_once():
        pytest.skip("this machine's resolver does not answer 'no such host' for hub.invalid within a second")
    endpoint = f"http://127.0.0.1:{closed_port()}" if request.param == "refused" else UNRESOLVABLE
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("SPARK_TUI_HUB_TIMEOUT", "30")  # only a fast answer passes, not the deadline
    reach.forget()
    yield endpoint
    reach.forget()


@pytest.fixture
def hanging_hub(hub, monkeypatch) -> Iterator[str]:
    """A Hub that accepts connections (the kernel completes the handshake) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        monkeypatch.setenv("SPARK_TUI_HUB_TIMEOUT", "1")
        reach.forget()
        yield endpoint
    reach.forget()


def test_search_of_a_dead_hub_answers_at_once(dead_hub):
    from spark_tui.hub.search import search_models

    start = time.monotonic()
    with pytest.raises(HubUnavailableError, match="Search failed: cannot reach") as failed:
        search_models("qwen")  # huggingface_hub's list_models retried this for 23 s
    assert time.monotonic() - start < BOUND_S
    assert "(connection refused)" in failed.value.message or "(host name not found)" in failed.value.message


def test_a_burst_of_lookups_of_a_dead_hub_answers_at_once(dead_hub):
    """The app loads its catalog several models at a time: every one of them answers within the bound (one look
    for all: resolvers that drop concurrent queries made some wait 5-10 s)."""
    took: dict[str, float] = {}
    errors: dict[str, str] = {}

    def one(model: str) -> None:
        start = time.monotonic()
        try:
            load_model_facts(model)
        except HubUnavailableError as exc:
            errors[model] = exc.message
        took[model] = time.monotonic() - start

    threads = [threading.Thread(target=one, args=(m,)) for m in CATALOG]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(errors) == sorted(CATALOG)
    assert all("Cannot reach" in e and "nothing is cached" in e for e in errors.values()), errors
    assert max(took.values()) < BOUND_S, took


def test_pull_plan_and_rules_update_of_a_dead_hub_answer_at_once(dead_hub, tmp_path):
    from spark_tui.downloads.plan import make_plan
    from spark_tui.rules.update import FetchFailed, resolve_source, update

    start = time.monotonic()
    with pytest.raises(HubUnavailableError, match="Cannot reach"):
        make_plan(MODEL)
    with pytest.raises(FetchFailed, match="Cannot reach"):
        update(resolve_source("hf:spark-tui/rules"))
    assert time.monotonic() - start < 2 * BOUND_S


def test_a_hanging_hub_answers_within_the_timeout(hanging_hub):
    from spark_tui.hub.search import search_models

    start = time.monotonic()
    with pytest.raises(HubUnavailableError, match="within 1 s"):
        load_model_facts(MODEL)
    with pytest.raises(HubUnavailableError, match="within 1 s"):
        search_models("qwen")
    assert time.monotonic() - start < 2 * 1 + 2 * BOUND_S  # two lookups of 1 s each, plus room for a busy machine


@pytest.mark.parametrize("command", [("check", MODEL, "--hardware", "gb10", "--json"), ("pull", MODEL, "--dry-run")],
                         ids=["check", "pull"])
def test_the_cli_says_cannot_reach_without_waiting(cli, dead_hub, command):
    start = time.monotonic()
    r = cli(*command, env={"SPARK_TUI_HUB_TIMEOUT": "60"})
    # The interpreter's start-up is in this figure too: the bound proves no retry (23 s) or deadline (60 s) was
    # waited for, without depending on how fast this machine starts Python.
    assert time.monotonic() - start < 10
    assert r.code == 3 and r.err.startswith("spark-tui: Cannot reach"), r.err


def test_the_look_is_shared_by_a_burst_and_remembered_briefly(monkeypatch):
    looks = []
    release = threading.Event()

    def slow_look(host: str, port: int) -> str | None:
        looks.append((host, port))
        release.wait(5)
        return "connection refused"

    monkeypatch.setattr(reach, "_look", slow_look)
    reach.forget()
    failures: list[str] = []

    def ask() -> None:
        try:
            reach.ensure_reachable("http://127.0.0.1:9")
        except reach.HubUnreachable as exc:
            failures.append(exc.reason)

    threads = [threading.Thread(target=ask) for _ in range(12)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    release.set()
    for thread in threads:
        thread.join(10)
    ask()  # right after: remembered, not asked again
    assert looks == [("127.0.0.1", 9)] and failures == ["connection refused"] * 13
    reach.forget()


def test_the_look_goes_to_the_proxy_when_one_applies(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert reach.address("https://huggingface.co") == ("huggingface.co", 443)
    assert reach.address("http://127.0.0.1:8765/mirror") == ("127.0.0.1", 8765)
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    assert reach.address("https://huggingface.co") == ("proxy.example", 3128)
    monkeypatch.setenv("no_proxy", "huggingface.co")
    assert reach.address("https://huggingface.co") == ("huggingface.co", 443)
    assert reach.address("not a url") is None


def test_a_listening_hub_is_not_judged_unreachable(hub):
    reach.forget()
    reach.ensure_reachable(hub.url)  # the emulator: nothing raised
    reach.forget()
