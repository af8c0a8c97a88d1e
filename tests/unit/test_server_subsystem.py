"""The server subsystem's pure parts: the state function, what `ps` shows of a command, the plan a record keeps,
the vLLM adapter's reading of an edited command, and the rate history every process shares."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from spark_tui.advisor.types import LaunchPlan
from spark_tui.crash import redact
from spark_tui.engines.adapters import adapter_for
from spark_tui.engines.records import ServerRecord, parse_record
from spark_tui.engines.status import ServerStatus, server_state
from spark_tui.engines.vllm import VLLM
from spark_tui.errors import UsageError
from spark_tui.metrics.history import RateHistory
from spark_tui.metrics.scrape import MetricsSample

PLAN = LaunchPlan("vllm", ("vllm", "serve", "org/m", "--host", "127.0.0.1", "--port", "8000"), {"VLLM_X": "1"},
                  model="org/m", engine_version="0.33.0", bound_tokens_per_s=57.25)


def record(**changes) -> ServerRecord:
    fields = dict(name="s", model="org/m", engine="vllm", argv=list(PLAN.argv), env={}, pid=1, port=8000,
                  host="127.0.0.1", log="/dev/null", started_at=0.0)
    return ServerRecord(**{**fields, **changes})


@pytest.mark.parametrize(("changes", "running", "answering", "exit_code", "progress", "expected"), [
    ({}, True, False, None, "starting", "starting"),
    ({}, True, False, None, "loading weights", "loading"),
    ({}, True, True, None, "serving", "ready"),
    ({}, False, False, 0, "serving", "exited"),
    ({}, False, False, 1, "loading weights", "failed"),
    ({}, False, False, None, "starting", "failed"),  # killed: no exit file
    ({"stopped": True}, False, False, -15, "serving", "stopped"),
    ({"damaged": True}, True, True, None, "serving", "damaged"),  # never "ready" on a record we cannot trust
    ({"damaged": True}, False, False, None, "starting", "damaged"),
])
def test_server_state(changes, running, answering, exit_code, progress, expected):
    assert server_state(record(**changes), running, answering, exit_code, progress)[0] == expected


def test_a_container_that_ended_says_how_to_remove_it():
    state, text = server_state(record(container="spark-tui-s"), False, False, 1, "loading weights")
    assert state == "failed" and "spark-tui stop s removes it" in text


def test_secrets_never_show_in_a_command():
    argv = ["docker", "run", "-e", "HF_TOKEN", "-e", "MY_API_KEY=sk-1", "-e", "VLLM_USE_DEEP_GEMM=0", "img", "vllm",
            "serve", "m", "--api-key", "sk-2", "--hf-token=hf_3", "--port", "8000"]
    shown = redact(argv)
    assert not any(secret in " ".join(shown) for secret in ("sk-1", "sk-2", "hf_3"))
    assert shown[3] == "HF_TOKEN" and "VLLM_USE_DEEP_GEMM=0" in shown and shown[-2:] == ["--port", "8000"]
    assert shown[shown.index("--api-key") + 1] == "***" and "--hf-token=***" in shown


def test_ps_json_has_the_launch_plans_keys():
    launched = record(argv=["/venv/bin/vllm", "serve", "org/m", "--api-key", "sk-9"],
                      plan={**PLAN.to_json(), "runtime": "local"})
    shown = ServerStatus(launched, "ready", "serving", 1.0, None).to_json()
    assert shown["command"] == ["/venv/bin/vllm", "serve", "org/m", "--api-key", "***"]
    assert shown["engine_version"] == "0.33.0" and shown["runtime"] == "local"
    assert shown["bound_tokens_per_s"] == 57.25
    older = ServerStatus(record(plan=None), "ready", "serving", 1.0, None).to_json()  # a record from before plans
    assert older["engine_version"] is None and older["bound_tokens_per_s"] is None and older["runtime"] == "local"


def test_the_plan_a_record_keeps_reads_back_and_a_wrong_one_is_refused():
    assert LaunchPlan.from_json(PLAN.to_json()) == PLAN
    assert LaunchPlan.from_json({**PLAN.to_json(), "port": "x"}) is None
    assert LaunchPlan.from_json({**PLAN.to_json(), "bound_tokens_per_s": "fast"}) is None
    whole = json.dumps({**asdict(record()), "plan": PLAN.to_json()})
    assert parse_record("s", whole).plan == PLAN.to_json()
    mistyped = json.dumps({**asdict(record()), "plan": "not a table"})
    assert parse_record("s", mistyped) is None  # a mistyped plan makes the record damaged


@pytest.mark.parametrize(("command", "host", "port"), [
    ("vllm serve org/m --host 127.0.0.1 --port 8123", "127.0.0.1", 8123),
    ("vllm serve org/m --enforce-eager --host 127.0.0.1 --port 8124", "127.0.0.1", 8124),  # a switch first
    ("vllm serve org/m --trust-remote-code --port=8125 --host=::1", "::1", 8125),
    ("vllm serve --port 8126 org/m --max_model_len 4096 --host 127.0.0.1", "127.0.0.1", 8126),
    ("vllm serve org/m --max-model-len 4096", "0.0.0.0", 8000),  # vLLM's defaults: every interface, 8000
])
def test_an_edited_command_is_read_as_vllm_reads_it(command, host, port):
    plan = VLLM.read_command(PLAN, command)
    assert (plan.host, plan.port, plan.model) == (host, port, "org/m")
    assert plan.argv == tuple(command.split()) and plan.env == PLAN.env and plan.bound_tokens_per_s == 57.25


@pytest.mark.parametrize(("command", "says"), [
    ("vllm serve org/m --port abc", "invalid int value: 'abc'"),
    ("vllm serve org/m --port 70000", "between 1 and 65535"),
    ("vllm run org/m", "vllm serve MODEL"),
    ("vllm serve 'org/m", "No closing quotation"),
])
def test_what_cannot_be_read_is_said(command, says):
    with pytest.raises(UsageError) as caught:
        VLLM.read_command(PLAN, command)
    assert says in str(caught.value)


def test_engines_without_an_adapter_are_refused_in_one_sentence():
    with pytest.raises(UsageError) as caught:
        adapter_for("sglang")  # an engine with no adapter
    assert "vllm, llamacpp and trtllm, not" in caught.value.message


def sample(t: float, generated: float) -> MetricsSample:
    return MetricsSample(t, generated, 0.0, 1, 0, 0.1, 0.0, 0, 0.0, 0)


def test_the_rate_history_is_shared_through_its_folder(tmp_path):
    cli, app = RateHistory(tmp_path), RateHistory(tmp_path)  # two processes' views of one folder
    cli.add("s", sample(1000.0, 0))
    history = app.add("s", sample(1010.0, 500))
    assert len(history) == 2 and cli.rates("s", window_s=60) == (50.0, 0.0)
    app.add("s", sample(1200.0, 900))  # samples older than two minutes are let go
    assert [s.t for s in cli.samples("s")] == [1200.0]
    (tmp_path / "s.json").write_text('{"samples": [{"t": "bad"}, 3]}')  # damage costs the damaged entries
    assert cli.samples("s") == [] and cli.rates("s", 60) is None


@pytest.mark.parametrize(("stopped", "exit_code", "phase", "says"), [
    (True, -15, "serving", "no longer serving"),
    (False, 0, "serving", "no longer serving"),
    (False, 1, "loading weights", "ended during start-up (loading weights)"),
    (True, None, "starting", "ended before loading"),
])
def test_an_ended_server_never_says_it_is_serving(stopped, exit_code, phase, says):
    # After stop the screen read "stopped · serving": the log's last phase, as if it still were.
    state, text = server_state(record(stopped=stopped), False, False, exit_code, phase)
    assert state in ("stopped", "exited", "failed") and text == says


ACCESS = [
    'INFO:     127.0.0.1:47294 - "GET /metrics HTTP/1.1" 200 OK',
    '(APIServer pid=812) INFO:     127.0.0.1:47302 - "GET /health HTTP/1.1" 200 OK',
    'INFO:     ::1:51000 - "GET /v1/models HTTP/1.1" 200 OK',
    'INFO:     10.0.0.5:40000 - "GET /health HTTP/1.1" 200 OK',  # the server's own address (bound there)
]
KEPT = [
    'INFO:     192.168.1.20:5123 - "GET /metrics HTTP/1.1" 200 OK',  # another machine's scraper
    'INFO:     127.0.0.1:47310 - "POST /v1/completions HTTP/1.1" 200 OK',  # a real request
    'INFO:     127.0.0.1:47311 - "GET /v1/models/extra HTTP/1.1" 404 Not Found',
    "INFO 05-20 16:42:34 [loggers.py:259] Engine 000: Avg prompt throughput: 0.0 tokens/s",
]


def test_our_own_polling_is_told_apart_from_real_traffic():
    assert [VLLM.our_request(line, "10.0.0.5") for line in ACCESS] == [True] * len(ACCESS)
    assert [VLLM.our_request(line, "10.0.0.5") for line in KEPT] == [False] * len(KEPT)


def test_the_log_view_keeps_start_up_and_drops_our_polling(tmp_path):
    from spark_tui.engines.logs import RUN_MARKER, run_lines

    log = tmp_path / "s.log"
    earlier = f"{RUN_MARKER}vllm serve org/old\nINFO GPU KV cache size: 1 tokens\n"
    startup = [f"{RUN_MARKER}vllm serve org/m", "INFO Model loading took 5.4 GiB",
               "INFO GPU KV cache size: 437,760 tokens", "INFO Application startup complete."]
    polling = "\n".join(ACCESS[:3]) + "\n"
    log.write_text(earlier + "\n".join(startup) + "\n" + polling * 20_000 + KEPT[1] + "\n")  # ~2.5 MB
    keep = lambda line: not VLLM.our_request(line, "127.0.0.1")  # noqa: E731
    lines = run_lines(log, len(earlier), keep)
    assert lines[:4] == startup  # this launch's start-up, not the earlier one's, and not scrolled away
    assert lines[4].startswith("… ") and "MiB of log not shown" in lines[4]
    assert lines[5:] == [KEPT[1]]
    assert VLLM.progress(lines) == "serving"
    # A record from before launches noted their offset: this launch starts at the log's last launch line.
    log.write_text(earlier + "\n".join(startup) + "\n" + polling * 10)
    assert run_lines(log, 0, keep) == startup


def test_forget_takes_a_server_off_the_list_but_never_a_running_one(tmp_path):
    import os

    import psutil

    from spark_tui.engines.supervisor import Supervisor

    supervisor = Supervisor(tmp_path)
    store = supervisor.store
    store.prepare("gone")
    ended = record(name="gone", pid=2**22 + 7, stopped=True, log=str(store.log_path("gone")))
    store.save(ended)
    store.log_path("gone").write_text("INFO Application startup complete.\n")
    store.save_bench("gone", {"requests": 8})
    me = psutil.Process()  # a server that runs: this test's own process stands in for it
    store.save(record(name="live", pid=os.getpid(), started_at=me.create_time(), log=str(store.log_path("live"))))
    with pytest.raises(UsageError, match="live is still running"):
        supervisor.forget("live")
    with pytest.raises(UsageError, match="No server named 'nope'"):
        supervisor.forget("nope")
    supervisor.forget("gone")
    assert [r.name for r in supervisor.records()] == ["live"]
    assert store.bench("gone") is None and store.log_path("gone").exists()  # the log stays on disk


def test_a_log_line_is_explained_by_the_rules_of_its_own_engine():
    # "no kernel image" has one cause and fix in vLLM (missing SM121 MoE kernels) and another in llama.cpp (a build
    # without the GPU's architecture): each server's log is read with its engine's rules.
    from spark_tui.engines.logs import diagnose
    from spark_tui.rules import builtin_rule_paths, load_rules

    rules = load_rules(builtin_rule_paths()).rules
    line = ["CUDA error: no kernel image is available for execution on the device"]
    assert [d["rule"] for d in diagnose(line, rules, "llamacpp")] == ["llamacpp-sm12x-no-kernel-image"]
    assert "llamacpp-sm12x-no-kernel-image" not in [d["rule"] for d in diagnose(line, rules, "vllm")]
    assert "vllm-sm121-missing-moe-kernels" in [d["rule"] for d in diagnose(line, rules, "vllm")]
    dead = ["ERROR Worker proc VllmWorker-1 died unexpectedly (exit code: -9), shutting down executor."]
    assert [d["rule"] for d in diagnose(dead, rules, "vllm")] == ["vllm-multinode-worker-died"]  # log-only: any engine
