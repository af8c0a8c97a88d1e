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
        adapter_for("llamacpp")
    assert "vLLM only for now" in caught.value.message


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
