"""Getting a model's metadata from a Hub that misbehaves (issue 9): 5xx, silence, refusal, wrong-shaped answers,
odd input. Each answer is one sentence with exit status 3, comes within a bounded time, and nothing bad is cached."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spark_tui.errors import HubUnavailableError, ModelDataError, SparkTuiError, UsageError
from spark_tui.hub import load_model_facts
from spark_tui.hub.cache import MetadataCache
from tests.integration.test_check_cli import PINNED, one_sentence_error
from tests.support.fault_proxy import FaultProxy, closed_port

ROOT = Path(__file__).resolve().parents[2]
MODEL = "RedHatAI/Qwen3-8B-NVFP4"


def cached_commit(endpoint: str, repo: str) -> str | None:
    return MetadataCache(Path(os.environ["SPARK_TUI_CACHE_DIR"]) / "hub", endpoint).resolve(repo, "main", None)


@pytest.fixture
def silent(hub):
    """A Hub that accepts every connection, reads the request and never answers."""
    server = FaultProxy(hub.url).start()
    server.inject(".*", "hang")
    yield server
    server.stop()


@pytest.fixture
def proxy(hub):
    server = FaultProxy(hub.url).start()
    yield server
    server.stop()


# --- 1. only the Hub's own "not found" is cached as missing ---

@pytest.mark.parametrize(("repo", "name"), [(MODEL, "config.json"),
                                            ("nvidia/Llama-3.3-70B-Instruct-NVFP4", "hf_quant_config.json")])
def test_a_5xx_on_a_config_file_is_an_error_and_nothing_is_cached(cli, hub, repo, name):
    hub.fail(rf"/resolve/[^/]+/{name}$", 503, times=None)
    err = one_sentence_error(cli("check", repo, "--hardware", "gb10", *PINNED))
    assert "missing" not in err and hub.url in err
    assert cached_commit(hub.url, repo) is None
    hub.clear()
    ok = cli("check", repo, "--hardware", "gb10", "--json", *PINNED)
    assert ok.code in (0, 1, 2), ok.err
    assert json.loads(ok.out)["model"]["model_type"] is not None  # config.json was read this time


def test_a_config_file_the_hub_says_is_absent_is_still_missing(hub):
    hub.add_repo("t/no-quant-config", {"config.json": json.dumps({"model_type": "llama"}).encode()})
    facts = load_model_facts("t/no-quant-config")
    assert facts.model_type == "llama"


# --- 2. every Hub call has a total deadline; Ctrl-C and quitting never wait on the Hub ---

def test_a_hub_that_never_answers_gives_up_within_the_deadline(cli, silent):
    start = time.monotonic()
    r = cli("check", MODEL, env={"HF_ENDPOINT": silent.url, "SPARK_TUI_HUB_TIMEOUT": "2"}, timeout=40)
    assert time.monotonic() - start < 15  # it used to run for minutes (huggingface_hub's retries, 60 s each)
    assert "gave no usable answer within 2 s" in one_sentence_error(r)


def test_ctrl_c_stops_a_check_waiting_on_a_silent_hub(hub, silent):
    env = {**os.environ, "HF_ENDPOINT": silent.url, "SPARK_TUI_HUB_TIMEOUT": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "spark_tui", "check", MODEL], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(300):  # until the check is waiting on the Hub
            if silent.requests:
                break
            time.sleep(0.05)
        time.sleep(0.3)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert time.monotonic() - sent < 3, "Ctrl-C should stop a check within about a second"
        assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("endpoint", ["refused", "http://no-such-host.invalid"])
def test_a_refused_or_unresolvable_hub_answers_within_3_s(hub, monkeypatch, endpoint):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}" if endpoint == "refused" else endpoint)
    monkeypatch.setenv("SPARK_TUI_HUB_TIMEOUT", "10")
    start = time.monotonic()
    with pytest.raises(HubUnavailableError):
        load_model_facts(MODEL)
    assert time.monotonic() - start < 3  # huggingface_hub's backoff used to take 23 s


def test_a_hanging_search_does_not_hang_the_check_of_a_missing_repo(cli, hub):
    hub.delay(r"^/api/models$", 30, times=None)  # the "did you mean" search never comes back in time
    start = time.monotonic()
    err = one_sentence_error(cli("check", "RedHatAI/No-Such-Model", env={"SPARK_TUI_HUB_TIMEOUT": "2"}, timeout=25))
    assert "No model 'RedHatAI/No-Such-Model'" in err
    assert time.monotonic() - start < 12


def test_search_has_a_deadline(hub):
    from spark_tui.hub.search import search_models

    hub.delay(r"^/api/models$", 30, times=None)
    start = time.monotonic()
    with pytest.raises(HubUnavailableError, match="gave no usable answer within 1 s"):
        search_models("qwen", timeout=1)
    assert time.monotonic() - start < 5


# --- 3. answers of the wrong shape: one sentence, nothing cached ---

INFO = r"^/api/models/RedHatAI/Qwen3-8B-NVFP4"


def _sizes_as_strings(hub) -> bytes:
    info = {"id": MODEL, "sha": hub.repos[MODEL].sha, "siblings": [{"rfilename": "model.safetensors", "size": "big"}]}
    return json.dumps(info).encode()


@pytest.mark.parametrize(("body", "content_type", "length"), [
    (b'{"id": "RedHatAI/Qwen3-8B-NVFP4", "sha": "', "application/json", None),  # truncated JSON
    (b"<html><body>Sign in to the Wi-Fi</body></html>", "text/html", None),  # a captive portal
    (b'["RedHatAI/Qwen3-8B-NVFP4"]', "application/json", None),  # a JSON list
    ("sizes", "application/json", None),  # sizes as strings
    (b'{"id": "RedHatAI/Qwen3-8B-NVFP4"', "application/json", 5000),  # a short Content-Length
], ids=["truncated", "html", "list", "sizes-as-strings", "short-content-length"])
def test_a_wrong_shaped_model_api_answer_is_one_sentence_and_not_cached(cli, hub, proxy, body, content_type, length):
    body = _sizes_as_strings(hub) if body == "sizes" else body
    proxy.inject(INFO, "body", body=body, content_type=content_type, declared_length=length)
    err = one_sentence_error(cli("check", MODEL, env={"HF_ENDPOINT": proxy.url}))
    assert proxy.url in err
    assert cached_commit(proxy.url, MODEL) is None
    proxy.clear()
    ok = cli("check", MODEL, "--hardware", "gb10", "--json", *PINNED, env={"HF_ENDPOINT": proxy.url})
    assert ok.code == 0 and json.loads(ok.out)["model"]["weights_bytes"] > 0, ok.err


@pytest.mark.parametrize("text", [b"<!DOCTYPE html><html>Not found</html>", b'{"model_type": "qwen3", "hidden_'])
def test_a_config_json_that_is_html_or_cut_off_is_not_a_config(cli, hub, text):
    hub.add_repo("t/html-config", {"config.json": text})
    err = one_sentence_error(cli("check", "t/html-config"))
    assert "sent something that is not a config" in err and "missing" not in err and "Cannot reach" not in err


NESTED = b"[" * 100_000 + b"]" * 100_000


def test_a_config_of_100000_nested_brackets_from_the_hub(cli, hub):
    hub.add_repo("t/nested", {"config.json": NESTED})
    assert "nested too deeply" in one_sentence_error(cli("check", "t/nested"))


def test_a_config_of_100000_nested_brackets_in_a_local_folder(cli, tmp_path):
    (tmp_path / "config.json").write_bytes(NESTED)
    assert "nested too deeply" in one_sentence_error(cli("check", str(tmp_path)))


# --- 4. messages for odd input and refusals ---

@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_without_an_error_code_speak_of_the_token(cli, hub, status):
    hub.fail(INFO, status, times=None)
    err = one_sentence_error(cli("check", MODEL))
    assert "token" in err and "Retry later" not in err and f"HTTP {status}" in err


def test_an_empty_id_does_not_plan_the_current_folder(cli):
    assert "No model given" in one_sentence_error(cli("check", ""))


def test_a_10000_character_id_is_one_short_sentence(cli):
    err = one_sentence_error(cli("check", "a" * 10_000))
    assert len(err) < 400 and "10000 characters" in err


def test_the_root_folder_is_not_a_checkpoint(cli):
    start = time.monotonic()
    assert "is not a model checkpoint" in one_sentence_error(cli("check", "/"))
    assert time.monotonic() - start < 20


def test_an_unreadable_checkpoint_folder(tmp_path, monkeypatch):
    # Tests run as root here, where chmod 000 does not bite: inject the refusal where the folder is listed.
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    real_scandir = os.scandir

    def refusing(path=".", *args, **kwargs):
        if Path(path) == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", refusing)
    with pytest.raises(ModelDataError, match="cannot be read: Permission denied"):
        load_model_facts(str(folder))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 folder (the injected test above covers it)")
def test_a_chmod_000_checkpoint_folder(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    folder.chmod(0)
    try:
        with pytest.raises(SparkTuiError, match="cannot be read"):
            load_model_facts(str(folder))
    finally:
        folder.chmod(0o755)


def test_an_empty_id_is_refused_in_process_too():
    with pytest.raises(UsageError):
        load_model_facts("")


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"id": "RedHatAI/Qwen3-8B-NVFP4", "siblings": []}'],
                         ids=["nested-brackets", "no-commit"])
def test_a_model_api_answer_nested_too_deep_or_without_a_commit(cli, hub, proxy, body):
    proxy.inject(INFO, "body", body=body)
    one_sentence_error(cli("check", MODEL, env={"HF_ENDPOINT": proxy.url}))
    assert cached_commit(proxy.url, MODEL) is None
