"""Every launch teaches the next check: the vLLM stand-in prints chosen start-up figures (or refuses to start for
KV memory); `check` then uses what it printed, for the same setup as-is and for other options as a correction;
`calibration ls / export` list it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.integration.test_serve import fake_vllm, free_port, leftover, wait_state  # noqa: F401 (a fixture)

GIB = 1024**3
MODEL = "RedHatAI/Qwen3-8B-NVFP4"
PLAN = ("--hardware", "gb10", "--engine-version", "0.28.0")  # the stand-in says it is vLLM 0.28.0
FIGURES = {"FAKE_VLLM_WEIGHTS_GIB": "5.25", "FAKE_VLLM_KV_GIB": "88.5", "FAKE_VLLM_KV_TOKENS": "644416",
           "FAKE_VLLM_CUDAGRAPH_GIB": "0.53"}


def check_json(cli, *args: str) -> tuple[int, dict]:
    r = cli("check", MODEL, *PLAN, *args, "--json")
    assert "Traceback" not in r.err, r.err
    return r.code, json.loads(r.out)


def log_says(tmp_path: Path, name: str, text: str, timeout: float = 20) -> None:
    """Wait for the server's own log to say `text` (no `ps` in between: `check` must settle the launch itself)."""
    log = tmp_path / "state" / "logs" / f"{name}.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise AssertionError(f"{name}'s log never said {text!r}")


@pytest.fixture
def launched(cli, fake_vllm, tmp_path):  # noqa: F811 (the fixture imported above)
    """One server started with the chosen figures, and the plan it was started from (no observation yet)."""
    _, before = check_json(cli)
    assert before["memory"]["source"] == "plan" and before["memory"]["observed"] is None
    r = cli("serve", MODEL, "--hardware", "gb10", "--vllm", str(fake_vllm), "--port", str(free_port()), "--name",
            "qwen8", env=FIGURES)
    assert r.code == 0, r.err
    log_says(tmp_path, "qwen8", "Application startup complete")
    yield before
    cli("stop", "qwen8")


def test_a_launch_with_the_same_setup_is_what_check_says(cli, launched, tmp_path):
    code, after = check_json(cli)
    memory = after["memory"]
    assert memory["source"] == "observed"
    assert memory["kv_cache_tokens"] == 644416
    observed = memory["observed"]
    assert observed["kv_cache_tokens"] == 644416
    assert observed["kv_cache_bytes"] == int(88.5 * GIB) == memory["kv_cache_bytes"]
    assert observed["weights_bytes"] == int(5.25 * GIB) == memory["weights_bytes"]
    assert observed["cudagraph_bytes"] == int(0.53 * GIB)
    assert observed["engine_version"] == "0.28.0" and observed["server"] == "qwen8"
    assert observed["outcome"] == "started" and memory["fits"] is True
    assert observed["at"].startswith(time.strftime("%Y-", time.gmtime()))  # an ISO time, in UTC
    assert memory["budget_bytes"] == launched["memory"]["budget_bytes"]  # what was asked for does not change
    # Everything else about the advice is the same advice.
    assert after["launch"]["argv"] == launched["launch"]["argv"] and code in (0, 1)
    text = cli("check", MODEL, *PLAN)
    words = " ".join(text.out.split())
    assert "KV cache holds 644,416 tokens" in words
    assert f"observed on this machine on {observed['at'][:10]} (qwen8, vLLM 0.28.0): started" in words


def test_other_options_are_corrected_by_what_was_measured(cli, launched, tmp_path):
    _, same = check_json(cli)
    _, other = check_json(cli, "--gpu-memory-utilization", "0.7")
    memory = other["memory"]
    assert memory["source"] == "plan" and memory["observed"] is None
    # The measured overhead (budget − weights − KV at 0.85) replaces the modelled one; at 0.7 only the budget moves.
    measured_overhead = same["memory"]["budget_bytes"] - int(5.25 * GIB) - int(88.5 * GIB)
    assert abs(memory["overhead_bytes"] - measured_overhead) <= 1
    assert abs(memory["weights_bytes"] - int(5.25 * GIB)) <= 1
    assert abs(memory["kv_cache_bytes"] - (memory["budget_bytes"] - int(5.25 * GIB) - measured_overhead)) <= 2
    assert any(a.startswith("corrected by server qwen8") and "gpu-memory-utilization 0.85" in a
               for a in memory["assumptions"])
    # With no launches to learn from (another state folder) the plan at 0.7 is the model's own.
    untaught = json.loads(cli("check", MODEL, *PLAN, "--gpu-memory-utilization", "0.7", "--json",
                              env={"SPARK_TUI_STATE_DIR": str(tmp_path / "elsewhere")}).out)["memory"]
    assert untaught["kv_cache_bytes"] != memory["kv_cache_bytes"]
    assert not any(a.startswith("corrected") for a in untaught["assumptions"])


def test_a_launch_refused_for_kv_memory_makes_check_say_it_did_not_fit(cli, fake_vllm, tmp_path):  # noqa: F811
    args = ("--max-model-len", "32768")
    code, before = check_json(cli, *args)
    assert before["memory"]["fits"] is True and code in (0, 1)
    r = cli("serve", MODEL, "--hardware", "gb10", *args, "--vllm", str(fake_vllm), "--port", str(free_port()),
            "--name", "tight", "--wait", "20", env={"FAKE_VLLM_FAIL_KV": "1", "FAKE_VLLM_KV_GIB": "0.5"})
    assert r.code == 3 and "failed" in r.out, (r.out, r.err)
    code, after = check_json(cli, *args)
    memory = after["memory"]
    assert memory["source"] == "observed" and memory["fits"] is False
    assert memory["observed"]["outcome"] == "refused_kv" and memory["observed"]["server"] == "tight"
    assert memory["observed"]["kv_cache_bytes"] == int(0.5 * GIB) and memory["max_model_len_fit"] == 2048
    assert code == 2 and after["verdict"] == "incompatible"
    assert after["findings"][0]["rule"] == "observed-does-not-fit"
    assert "Did not fit here: server tight" in after["findings"][0]["title"]
    text = cli("check", MODEL, *PLAN, *args)
    assert text.code == 2 and "did not fit here" in text.out
    assert leftover(tmp_path) == []


def test_calibration_ls_and_export(cli, launched, tmp_path):
    empty_before = cli("calibration", "ls", "--json")  # the launch is settled by `ls` itself
    assert empty_before.code == 0, empty_before.err
    entries = json.loads(empty_before.out)
    assert len(entries) == 1
    entry = entries[0]
    assert set(entry) >= {"model", "revision", "engine", "engine_version", "hardware", "options", "predicted",
                          "observed", "error_pct", "at"}
    assert entry["model"] == MODEL and entry["engine"] == "vllm" and entry["engine_version"] == "0.28.0"
    assert entry["options"] == {"tensor_parallel_size": 1, "gpu_memory_utilization": 0.85,
                                "max_model_len": launched["memory"]["max_model_len"],
                                "max_num_seqs": launched["memory"]["max_num_seqs"],
                                "max_num_batched_tokens": launched["memory"]["max_num_batched_tokens"],
                                "kv_cache_dtype": "auto", "enforce_eager": False}
    predicted = launched["memory"]
    assert entry["predicted"] == {"kv_cache_tokens": predicted["kv_cache_tokens"],
                                  "kv_cache_bytes": predicted["kv_cache_bytes"],
                                  "weights_bytes": predicted["weights_bytes"]}
    assert entry["observed"] == {"kv_cache_tokens": 644416, "kv_cache_bytes": int(88.5 * GIB),
                                 "weights_bytes": int(5.25 * GIB)}
    assert entry["error_pct"] == round((predicted["kv_cache_tokens"] - 644416) / 644416 * 100, 1)
    table = cli("calibration", "ls")
    assert table.code == 0 and MODEL in table.out and "644,416" in table.out and f"{entry['error_pct']:+.1f}%" in \
        table.out
    out = tmp_path / "shared" / "calibration.jsonl"
    exported = cli("calibration", "export", "--output", str(out))
    assert exported.code == 0, exported.err
    lines = out.read_text().splitlines()
    assert [json.loads(line) for line in lines] == entries
    assert cli("calibration", "export").out.splitlines() == lines  # standard output by default
    folder = cli("calibration", "export", "--output", str(tmp_path))
    assert folder.code == 3 and folder.err.startswith("spark-tui: ") and "Traceback" not in folder.err
    bare = cli("calibration")
    assert bare.code == 3 and bare.err.startswith("spark-tui: ")


def test_ps_shows_predicted_and_observed_kv_tokens(cli, launched):
    server = wait_state(cli, "qwen8", ("ready",))
    assert server["kv_cache_tokens"] == {"predicted": launched["memory"]["kv_cache_tokens"], "observed": 644416}
