"""`check --json` when there is no advice (issue 13, bug 8): scripts get one object on stdout —
`{"verdict": "unknown", "error": {"kind", "message", "hint", …}, "model": …}` — exit 3, and stderr keeps its
sentence (the object's message is that sentence)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from spark_tui import cli as cli_module
from spark_tui.errors import error_kinds
from tests.support.fault_proxy import closed_port

MODEL = "RedHatAI/Qwen3-8B-NVFP4"
README = Path(__file__).resolve().parents[2] / "README.md"


def failure(result, kind: str, code: int = 3) -> dict:
    assert result.code == code, (result.out, result.err)
    assert "Traceback" not in result.out + result.err
    data = json.loads(result.out)  # one object, and nothing else on stdout
    assert data["verdict"] == "unknown" and data["error"]["kind"] == kind, data
    sentence = next(line for line in result.err.splitlines() if line.startswith("spark-tui: ")
                    and not line.startswith("spark-tui: rules: "))
    assert sentence == f"spark-tui: {data['error']['message']}"  # the same words as stderr's sentence
    if data["error"]["hint"]:
        assert f"  {data['error']['hint']}" in result.err.splitlines()
    return data


def test_model_not_found(cli):
    data = failure(cli("check", "RedHatAI/Qwen3-8B-NVPF4", "--json"), "not_found")
    assert data["model"] == {"id": "RedHatAI/Qwen3-8B-NVPF4", "revision": None}
    assert "RedHatAI/Qwen3-8B-NVFP4" in data["error"]["suggestions"]


def test_revision_not_found(cli):
    data = failure(cli("check", MODEL, "--revision", "nope", "--json"), "not_found")
    assert data["model"] == {"id": MODEL, "revision": "nope"}


def test_network_down_with_nothing_cached(cli):
    data = failure(cli("check", MODEL, "--json", env={"HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"}),
                   "hub_unavailable")
    assert data["error"]["message"].startswith("Cannot reach") and "nothing is cached" in data["error"]["message"]


def test_offline_with_nothing_cached(cli):
    failure(cli("check", MODEL, "--json", "--offline"), "hub_unavailable")


def test_gated_without_a_token(cli):
    data = failure(cli("check", "meta-llama/Llama-3.1-8B", "--json"), "gated")
    assert "HF_TOKEN" in data["error"]["hint"]


@pytest.mark.parametrize("args", [("--max-model-len", "abc"), ("--gpu-memory-utilization", "1.5"),
                                  ("--engine", "sglang"), ("--no-such-option",)])
def test_bad_option_values(cli, args):
    data = failure(cli("check", MODEL, "--json", *args), "usage")
    assert data["error"]["hint"].startswith("See: spark-tui") and data["error"]["hint"].endswith("--help")


def test_bad_names(cli):
    failure(cli("check", MODEL, "--json", "--hardware", "h1000"), "usage")
    failure(cli("check", "not a model!", "--json"), "usage")
    assert failure(cli("check", "--json"), "usage")["model"] is None  # no model given at all


def test_text_mode_failures_keep_stdout_empty(cli):
    r = cli("check", "RedHatAI/Qwen3-8B-NVPF4")
    assert r.code == 3 and r.out == "" and r.err.startswith("spark-tui: No model")


def test_an_internal_error_is_an_object_too(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli_module, "cmd_check", broken)
    monkeypatch.setattr("spark_tui.crash.save_report", lambda exc, argv: None)
    assert cli_module.main(["check", MODEL, "--json"]) == 4
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["error"]["kind"] == "internal" and "bug in spark-tui" in data["error"]["message"]
    assert "Traceback" not in out + err


def test_every_kind_is_documented_in_the_readme():
    section = README.read_text().split("## `spark-tui check MODEL`")[1].split("\n## ")[0]
    documented = set(re.findall(r"`([a-z_]+)`", section))
    missing = error_kinds() - documented
    assert not missing, f"error kinds not in README's check --json section: {sorted(missing)}"
