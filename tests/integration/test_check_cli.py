"""`spark-tui check` end to end: the real command, the real huggingface_hub client, the local Hub emulator."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from spark_tui.hub import load_model_facts

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
PINNED = ("--engine-version", "0.28.0")  # golden output must not depend on an installed engine


def one_sentence_error(result, code=3):
    assert result.code == code, (result.out, result.err)
    assert "Traceback" not in result.err and "Traceback" not in result.out
    first = result.err.splitlines()[0]
    assert first.startswith("spark-tui: ") and first.endswith((".", "?")), first
    return result.err


# --- what "done" means for the advisor core ---

def test_qwen3_30b_a3b_nvfp4_on_gb10_is_a_caution_explaining_31782(cli):
    r = cli("check", "RedHatAI/Qwen3-30B-A3B-NVFP4", "--hardware", "gb10", *PINNED)
    assert r.code == 1, r.err
    assert "Verdict: CAUTION" in r.out
    assert "https://github.com/vllm-project/vllm/issues/31782" in r.out
    words = " ".join(r.out.split())  # the text is wrapped at 80 columns
    assert "gated (silu)" in words and "#31782 does not apply" in words
    data = json.loads(cli("check", "RedHatAI/Qwen3-30B-A3B-NVFP4", "--hardware", "gb10", "--json", *PINNED).out)
    gated = next(f for f in data["findings"] if f["rule"] == "vllm-ct-nvfp4-moe-gated")
    assert gated["severity"] == "warning" and any(ref["url"].endswith("/31782") for ref in gated["references"])
    assert data["model"]["moe"] is True and data["model"]["moe_gated"] is True


@pytest.mark.parametrize("version", ["0.12.0", "0.14.0"])  # vLLM 0.16.0 removed the check (its source)
def test_nongated_compressed_tensors_nvfp4_moe_is_incompatible(cli, version):
    r = cli("check", "Firworks/NVIDIA-Nemotron-3-Nano-30B-A3B-nvfp4", "--hardware", "gb10", "--json",
            "--engine-version", version)
    assert r.code == 2, r.err
    data = json.loads(r.out)
    assert data["verdict"] == "incompatible"
    error = data["findings"][0]
    assert error["rule"] == "vllm-ct-nvfp4-moe-nongated" and "#31782" in error["title"]
    assert "is_act_and_mul=False" in error["detail"]


def test_qwen3_8b_nvfp4_on_h100_explains_the_marlin_fallback(cli):
    r = cli("check", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "h100", *PINNED)
    assert r.code == 1
    words = " ".join(r.out.split())
    assert "Marlin" in words and "Weight-only FP4 compression will be used" in words
    assert "[vllm-fp4-marlin-fallback]" in r.out


# The seed guide's models, on the two machines people ask about.
SEED_VERDICTS = {
    "RedHatAI/Qwen3-8B-NVFP4": ("ok", "caution"),
    "RedHatAI/Qwen3-32B-NVFP4": ("ok", "caution"),
    "RedHatAI/Llama-4-Scout-17B-16E-Instruct-NVFP4": ("caution", "caution"),
    "RedHatAI/Qwen3-30B-A3B-NVFP4": ("caution", "caution"),
    "RedHatAI/Qwen3-VL-235B-A22B-Instruct-NVFP4": ("incompatible", "incompatible"),
    "nvidia/Llama-3.3-70B-Instruct-NVFP4": ("ok", "caution"),
    "nvidia/Llama-3.1-405B-Instruct-NVFP4": ("incompatible", "incompatible"),
    "nvidia/Qwen3-32B-NVFP4": ("ok", "caution"),
    "nvidia/DeepSeek-R1-NVFP4": ("incompatible", "incompatible"),
    "nvidia/DeepSeek-V3.2-NVFP4": ("incompatible", "incompatible"),
    "QuantTrio/MiniMax-M2-AWQ": ("incompatible", "incompatible"),
    "QuantTrio/Qwen3-VL-30B-A3B-Instruct-AWQ": ("ok", "ok"),
    "openai/gpt-oss-20b": ("caution", "ok"),
}


@pytest.mark.parametrize("repo", sorted(SEED_VERDICTS))
def test_seed_model_verdicts_on_gb10_and_h100(repo, hub, monkeypatch):
    from spark_tui.advisor import PlanOptions, advise
    from spark_tui.hardware import resolve_hardware
    from spark_tui.rules import load_all_rules

    rules = load_all_rules().rules
    facts = load_model_facts(repo)
    for hardware, expected in zip(("gb10", "h100"), SEED_VERDICTS[repo], strict=True):
        advice = advise(facts, resolve_hardware(hardware), PlanOptions(engine_version="0.28.0"), rules)
        assert advice.verdict == expected, (hardware, [f.rule for f in advice.findings])


def test_weights_that_do_not_fit_say_so(cli):
    r = cli("check", "nvidia/DeepSeek-R1-NVFP4", "--hardware", "gb10", "--json", *PINNED)
    data = json.loads(r.out)
    assert r.code == 2 and data["memory"]["fits"] is False and data["memory"]["max_model_len"] is None
    assert data["findings"][0]["rule"] == "memory-weights-do-not-fit"


# --- golden output ---

@pytest.mark.parametrize(("name", "args"), [
    ("qwen3-30b-a3b-nvfp4-gb10", ("RedHatAI/Qwen3-30B-A3B-NVFP4", "--hardware", "gb10")),
    ("llama-3.3-70b-nvfp4-h100-tp2", ("nvidia/Llama-3.3-70B-Instruct-NVFP4", "--hardware", "h100",
                                       "--tensor-parallel-size", "2", "--max-model-len", "65536")),
])
def test_golden_json_and_text(cli, name, args):
    outputs = {
        f"{name}.json": cli("check", *args, "--json", *PINNED).out,
        f"{name}.txt": cli("check", *args, *PINNED).out,
    }
    for file, text in outputs.items():
        path = GOLDEN / file
        if os.environ.get("SPARK_TUI_UPDATE_GOLDEN"):
            path.write_text(text)
        assert text == path.read_text(), f"{file} changed; rerun with SPARK_TUI_UPDATE_GOLDEN=1 if intended"


def test_json_contract_fields(cli):
    data = json.loads(cli("check", "openai/gpt-oss-20b", "--hardware", "h100", "--json", *PINNED).out)
    assert set(data) >= {"verdict", "findings", "model", "hardware", "engine", "memory", "performance", "launch"}
    assert set(data["model"]) >= {"id", "revision", "model_type", "architecture", "params_total", "params_active",
                                  "moe", "num_experts", "quantization", "weights_bytes"}
    assert set(data["model"]["quantization"]) >= {"method", "scheme", "producer"}
    assert set(data["hardware"]) >= {"name", "compute_capability", "unified_memory", "memory_bytes",
                                     "bandwidth_gbps", "gpus"}
    assert set(data["engine"]) >= {"name", "version"}
    assert set(data["memory"]) >= {"budget_bytes", "weights_bytes", "overhead_bytes", "kv_bytes_per_token",
                                   "kv_cache_bytes", "kv_cache_tokens", "max_model_len", "fits"}
    assert set(data["performance"]) >= {"decode_tokens_per_s_bound"}
    assert set(data["launch"]) >= {"argv", "env"}
    assert data["hardware"]["compute_capability"] == "9.0"
    argv = data["launch"]["argv"]
    assert argv[:3] == ["vllm", "serve", "openai/gpt-oss-20b"] and argv[argv.index("--host") + 1] == "127.0.0.1"
    assert "--trust-remote-code" not in argv


def test_launch_plan_carries_rule_env_and_only_asked_for_remote_code(cli, tmp_path):
    rules = tmp_path / "mine.toml"
    rules.write_text('[[rule]]\nid = "local-env"\ntitle = "t"\nseverity = "info"\ndetail = "d"\nfix = "f"\n'
                     'references = []\nlaunch_flags = ["--enable-prefix-caching"]\n'
                     '[rule.launch_env]\nVLLM_USE_DEEP_GEMM = "0"\n'
                     '[rule.when]\nengine = "vllm"\nmodel_type = "qwen3"\n')
    data = json.loads(cli("check", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--json", "--rules", str(rules),
                          "--trust-remote-code", *PINNED).out)
    assert data["launch"]["env"] == {"VLLM_USE_DEEP_GEMM": "0"}
    assert "--enable-prefix-caching" in data["launch"]["argv"] and "--trust-remote-code" in data["launch"]["argv"]
    assert any(f["rule"] == "local-env" for f in data["findings"])


# --- caching and offline ---

def test_repeated_check_makes_no_network_request_and_offline_answers_from_cache(cli, hub):
    assert cli("check", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--json", *PINNED).code == 0
    assert hub.requests, "the cold check should have asked the emulator"
    hub.requests.clear()
    warm = cli("check", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--json", *PINNED)
    assert warm.code == 0 and hub.requests == []
    offline = cli("check", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--offline", "--json", *PINNED,
                  env={"SPARK_TUI_HUB_TTL": "0"})  # even with the cache "expired", offline answers from it
    assert offline.code == 0 and json.loads(offline.out) == json.loads(warm.out) and hub.requests == []
    refreshed = cli("check", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--refresh", "--json", *PINNED)
    assert refreshed.code == 0 and hub.requests


def test_offline_without_cache_is_one_clear_sentence(cli, hub):
    err = one_sentence_error(cli("check", "RedHatAI/Qwen3-8B-NVFP4", "--offline"))
    assert "not in spark-tui's cache" in err
    err = one_sentence_error(cli("check", "RedHatAI/Qwen3-8B-NVFP4", env={"HF_HUB_OFFLINE": "1"}))
    assert "Offline" in err and hub.requests == []


def test_cold_check_is_at_most_two_rounds_of_requests(hub):
    # Every request takes 0.4 s: one parallel round of API + files (each file HEAD then GET) is ≈0.8 s.
    hub.delay(r"^/(api/models/|RedHatAI/)", 0.4)
    start = time.perf_counter()
    facts = load_model_facts("RedHatAI/Qwen3-32B-NVFP4")
    elapsed = time.perf_counter() - start
    assert facts.quantization.scheme == "nvfp4"
    assert elapsed < 1.2, f"took {elapsed:.2f}s: more than two sequential rounds"
    methods = [m for m, _ in hub.requests]
    assert methods.count("GET") + methods.count("HEAD") <= 5


# --- bad input: one sentence, right exit status, no traceback ---

def test_typo_suggests_close_matches(cli):
    err = one_sentence_error(cli("check", "RedHatAI/Qwen3-8B-NVPF4"))
    assert "No model 'RedHatAI/Qwen3-8B-NVPF4'" in err and "Did you mean RedHatAI/Qwen3-8B-NVFP4" in err


def test_gated_without_and_with_token(cli):
    err = one_sentence_error(cli("check", "meta-llama/Llama-3.1-8B"))
    assert "is gated" in err and "no Hugging Face token" in err and "HF_TOKEN" in err
    ok = cli("check", "meta-llama/Llama-3.1-8B", "--hardware", "h100", *PINNED, env={"HF_TOKEN": "hf_test_token"})
    assert ok.code == 0, ok.err
    assert "hf_test_token" not in ok.out + ok.err  # tokens are never printed


def test_gated_with_a_token_that_has_no_access(cli):
    err = one_sentence_error(cli("check", "meta-llama/Llama-3.1-8B", env={"HF_TOKEN": "hf_other_user"}))
    assert "is gated and your token has no access" in err and "hf_other_user" not in err


@pytest.mark.parametrize("repo", ["RedHatAI/Qwen3-30B-A3B-NVFP4", "Firworks/NVIDIA-Nemotron-3-Nano-30B-A3B-nvfp4",
                                  "nvidia/DeepSeek-R1-NVFP4", "unsloth/Qwen3-8B-GGUF"])
def test_text_fits_80_columns(cli, repo):
    for verbose in ((), ("--verbose",)):
        out = cli("check", repo, "--hardware", "gb10", *verbose, *PINNED).out
        long = [line for line in out.splitlines() if len(line) > 80 and "https://" not in line]
        assert long == [], long
    assert "\x1b[" not in out  # NO_COLOR (and not a terminal): no colour codes


def test_private_repo_needs_a_token(cli):
    err = one_sentence_error(cli("check", "acme/private-model"))
    assert "private, set HF_TOKEN" in err
    assert cli("check", "acme/private-model", "--hardware", "h100", *PINNED,
               env={"HF_TOKEN": "hf_test_token"}).code == 0


def test_revision_not_found(cli):
    err = one_sentence_error(cli("check", "RedHatAI/Qwen3-8B-NVFP4", "--revision", "nope"))
    assert "has no revision 'nope'" in err


@pytest.mark.parametrize(("status", "words"), [(429, "rate-limiting"), (500, "HTTP 500"), (503, "HTTP 503")])
def test_hub_errors(cli, hub, status, words):
    hub.fail(r"^/api/models/RedHatAI", status, times=None)
    assert words in one_sentence_error(cli("check", "RedHatAI/Qwen3-8B-NVFP4"))


def test_slow_hub_times_out_with_a_sentence(cli, hub):
    hub.delay(r"^/api/models/", 3.0, times=None)
    r = cli("check", "RedHatAI/Qwen3-8B-NVFP4", env={"SPARK_TUI_HUB_TIMEOUT": "1"})
    assert "gave no usable answer within 1 s" in one_sentence_error(r)


def test_network_down(cli):
    r = cli("check", "RedHatAI/Qwen3-8B-NVFP4", env={"HF_ENDPOINT": "http://127.0.0.1:9"})
    assert "Cannot reach http://127.0.0.1:9" in one_sentence_error(r)


def test_malformed_config(cli):
    assert "config.json of broken/bad-config is not valid JSON" in one_sentence_error(
        cli("check", "broken/bad-config"))


def test_config_missing_fields_is_unknown_with_what_is_known(cli):
    r = cli("check", "broken/missing-fields", "--hardware", "gb10", "--json", *PINNED)
    data = json.loads(r.out)
    assert r.code == 3 and data["verdict"] == "unknown"
    assert data["model"]["model_type"] == "mystery" and data["model"]["weights_bytes"] > 0
    assert data["memory"]["kv_cache_tokens"] is None and data["memory"]["fits"] is None


def test_unknown_quantization_is_unknown(cli):
    data = json.loads(cli("check", "weird/unknown-quant", "--hardware", "gb10", "--json", *PINNED).out)
    assert data["verdict"] == "unknown" and "hqq" in " ".join(data["unknowns"])


def test_gguf_only_repo(cli):
    r = cli("check", "unsloth/Qwen3-8B-GGUF", "--hardware", "gb10", "--json", *PINNED)
    data = json.loads(r.out)
    # a warning (vLLM's GGUF support is experimental, from 0.24 a plugin); no config.json, but the GGUF header of
    # the chosen variant gives the layout, so the memory is planned and the verdict is the warning's
    assert r.code == 1 and data["findings"][0]["rule"] == "vllm-gguf-plugin"
    assert data["model"]["num_layers"] == 36 and data["memory"]["fits"] is True
    llama = json.loads(cli("check", "unsloth/Qwen3-8B-GGUF", "--hardware", "gb10", "--engine", "llamacpp",
                           "--json").out)
    # The default variant is the largest that fits (Q8_0 here on GB10), not llama.cpp's -hf Q4_K_M.
    assert llama["launch"]["argv"][:5] == ["llama-server", "--hf-repo", "unsloth/Qwen3-8B-GGUF", "--hf-file",
                                           "Qwen3-8B-Q8_0.gguf"]


@pytest.mark.parametrize("args", [
    ("--max-model-len", "1000000"),  # more than the model allows
    ("--max-model-len", "-5"),
    ("--gpu-memory-utilization", "1.5"),
    ("--tensor-parallel-size", "0"),
    ("--gpus", "abc"),
    ("--hardware", "h1000"),
    ("--engine-version", "latest-ish"),
    ("--tensor-parallel-size", "4", "--hardware", "auto", "--gpus", "2"),
])
def test_bad_numbers_and_names(cli, args):
    r = cli("check", "RedHatAI/Qwen3-8B-NVFP4", *args)
    assert r.code == 3 and "Traceback" not in r.err and "spark-tui: " in r.err


def test_bad_model_ids(cli):
    one_sentence_error(cli("check", "not a model!"))
    one_sentence_error(cli("check", "./no/such/dir"))


def test_broken_user_rules_file_is_reported_and_the_check_still_runs(cli, tmp_path):
    rules = tmp_path / "broken.toml"
    rules.write_text('[[rule]]\nid = "x"\ntitle = "unterminated\n')
    r = cli("check", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--rules", str(rules), *PINNED)
    assert r.code == 0
    assert f"{rules}:3: TOML syntax error" in r.err


def test_user_rules_folder_in_config_dir_is_loaded(cli, hub, tmp_path):
    folder = Path(os.environ["SPARK_TUI_CONFIG_DIR"]) / "rules"
    folder.mkdir(parents=True)
    (folder / "site.toml").write_text('[[rule]]\nid = "site-policy"\ntitle = "No 70B here"\nseverity = "error"\n'
                                      'detail = "d"\nfix = "f"\nreferences = []\n[rule.when]\nparams_total = ">6e10"\n')
    r = cli("check", "nvidia/Llama-3.3-70B-Instruct-NVFP4", "--hardware", "gb10", "--json", *PINNED)
    assert r.code == 2 and json.loads(r.out)["findings"][0]["rule"] == "site-policy"


# --- a local checkpoint directory ---

def test_local_directory(cli, tmp_path):
    from tests.support import fixture_repos as fr

    model = tmp_path / "my-qwen-nvfp4"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(fr.with_quant(fr.config("Qwen__Qwen3-8B"), fr.CT_NVFP4)))
    with open(model / "model.safetensors", "wb") as fh:
        fh.truncate(6_000_000_000)  # sparse: only its size matters
    data = json.loads(cli("check", str(model), "--hardware", "gb10", "--json", *PINNED).out)
    assert data["model"]["source"] == "local" and data["model"]["weights_bytes"] == 6_000_000_000
    assert data["model"]["quantization"]["scheme"] == "nvfp4"
    assert data["launch"]["argv"][2] == str(model.resolve())


def test_cold_check_prints_nothing_but_the_answer(cli):
    r = cli("check", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--json", *PINNED)
    assert r.code == 0 and r.err == ""  # no progress bars or library warnings on the terminal
    json.loads(r.out)
