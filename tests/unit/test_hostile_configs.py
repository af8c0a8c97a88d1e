"""Absurd or wrong-typed values in config.json, hf_quant_config.json and the Hub's model info (issue 9).

Whatever a repo's JSON holds, building facts and advising must not raise, must not hang, and must never be a
confident answer built on nonsense: the verdict is "unknown" and the problem names the field.
"""

from __future__ import annotations

import copy
import json
import random
import time
from typing import Any

import pytest

from spark_tui.advisor import PlanOptions, advise
from spark_tui.hardware import resolve_hardware
from spark_tui.hub.facts import build_model_facts
from spark_tui.rules import load_all_rules
from tests.support import fixture_repos as fr

GB = 1_000_000_000
HANG_GUARD_S = 2.0  # guards against a hang or a per-layer loop over 10^8 layers; not a speed test
RULES = load_all_rules([]).rules
GB10 = resolve_hardware("gb10")
OPTIONS = PlanOptions(engine_version="0.28.0")


def judge(config: Any, *, api: dict[str, Any] | None = None, hf_quant: Any = None,
          files: list[tuple[str, Any]] | None = None):
    """Facts + advice as `check` makes them, timed."""
    started = time.monotonic()
    if files is None and api is None:
        files = [("model.safetensors", 16 * GB)]
    facts = build_model_facts("org/model", source="local", revision=None, api=api, config=config,
                              hf_quant_config=hf_quant, files=files)
    advice = advise(facts, GB10, OPTIONS, RULES)
    return facts, advice, time.monotonic() - started


def dense(**changes: Any) -> dict[str, Any]:
    cfg = fr.config("Qwen__Qwen3-8B")
    cfg.update(changes)
    return cfg


def moe(**changes: Any) -> dict[str, Any]:
    cfg = fr.config("Qwen__Qwen3-30B-A3B")
    cfg.update(changes)
    return cfg


def assert_sane(advice) -> None:
    """Whatever the verdict, no negative or zero sizes are reported as a plan."""
    mem = advice.memory
    if mem is not None:
        assert mem.kv_cache_tokens is None or mem.kv_cache_tokens >= 0
        assert mem.max_model_len is None or mem.max_model_len > 0
        assert mem.kv_cache_bytes >= 0 and mem.num_blocks >= 0
    bound = advice.performance.decode_tokens_per_s_bound
    assert bound is None or bound > 0


# (case, config, the words the problem must contain)
HOSTILE_CONFIGS = [
    ("layers 10^12", dense(num_hidden_layers=10**12), "num_hidden_layers"),
    ("layers 1e308", dense(num_hidden_layers=1e308), "num_hidden_layers"),
    ("layers 10^8", dense(num_hidden_layers=10**8), "num_hidden_layers"),
    ("layers 10^400", dense(num_hidden_layers=10**400), "num_hidden_layers"),
    ("layers negative", dense(num_hidden_layers=-4), "num_hidden_layers is -4"),
    ("layers zero", dense(num_hidden_layers=0), "num_hidden_layers is 0"),
    ("layers true", dense(num_hidden_layers=True), "num_hidden_layers is true"),
    ("layers NaN", dense(num_hidden_layers=float("nan")), "num_hidden_layers is NaN"),
    ("layers Infinity", dense(num_hidden_layers=float("inf")), "num_hidden_layers is Infinity"),
    ("layers a list", dense(num_hidden_layers=[36]), "num_hidden_layers is a list"),
    ("layers a string", dense(num_hidden_layers="36"), 'num_hidden_layers is "36"'),
    ("layers a fraction", dense(num_hidden_layers=35.5), "num_hidden_layers is 35.5"),
    ("architectures 5", dense(architectures=5), "architectures is 5"),
    ("architectures [5]", dense(architectures=[5]), "architectures[0] is 5"),
    ("text_config [1]", dense(text_config=[1]), "text_config is a list"),
    ("text_config a string", dense(text_config="qwen"), "text_config is"),
    ("model_type a list", dense(model_type=["qwen3"]), "model_type is a list"),
    ("hidden size zero", dense(hidden_size=0), "hidden_size is 0"),
    ("hidden size negative", dense(hidden_size=-4096), "hidden_size is -4096"),
    ("hidden size not a multiple of heads", dense(hidden_size=4095, head_dim=None),
     "hidden_size 4095 is not a multiple of num_attention_heads 32"),
    ("heads zero", dense(num_attention_heads=0), "num_attention_heads is 0"),
    ("kv heads zero", dense(num_key_value_heads=0), "num_key_value_heads is 0"),
    ("kv heads negative", dense(num_key_value_heads=-8), "num_key_value_heads is -8"),
    ("kv heads do not divide heads", dense(num_key_value_heads=5),
     "num_attention_heads 32 is not a multiple of num_key_value_heads 5"),
    ("head_dim negative", dense(head_dim=-128), "head_dim is -128"),
    ("context negative", dense(max_position_embeddings=-1), "max_position_embeddings is -1"),
    ("context 10^30", dense(max_position_embeddings=10**30), "max_position_embeddings"),
    ("vocab zero", dense(vocab_size=0), "vocab_size is 0"),
    ("vocab negative", dense(vocab_size=-5), "vocab_size is -5"),
    ("intermediate negative", dense(intermediate_size=-1), "intermediate_size is -1"),
    ("dtype a number", dense(torch_dtype=5), "torch_dtype is 5"),
    ("tie_word_embeddings a string", dense(tie_word_embeddings="no"), "tie_word_embeddings"),
    ("sliding window negative", dense(sliding_window=-5, use_sliding_window=True, model_type="mistral"),
     "sliding_window is -5"),
    ("layer_types a string", dense(layer_types="abc"), "layer_types is"),
    ("layer_types of numbers", dense(layer_types=[5] * 36), "layer_types[0] is 5"),
    ("layer_types 10^7 long", dense(layer_types=["sliding_attention"] * 10**7), "layer_types"),
    ("layer_types longer than the layers", dense(layer_types=["full_attention"] * 40), "layer_types"),
    ("hybrid pattern 10^8 long", dense(hybrid_override_pattern="*" * 10**8), "hybrid_override_pattern"),
    ("hybrid pattern of unknown blocks", dense(hybrid_override_pattern="*X" * 18), "hybrid_override_pattern"),
    ("quantization_config a string", dense(quantization_config="abc"), "quantization_config is"),
    ("quant_method a number", dense(quantization_config={"quant_method": 5}), "quant_method is 5"),
    ("awq group_size a string", dense(quantization_config={"quant_method": "awq", "bits": 4, "group_size": "x"}),
     "group_size"),
    ("config_groups a list", dense(quantization_config={"quant_method": "compressed-tensors", "config_groups": [1]}),
     "config_groups is a list"),
    ("weights a number", dense(quantization_config={"quant_method": "compressed-tensors",
                                                   "config_groups": {"g": {"weights": 5}}}), "weights is 5"),
    ("modelopt producer a string", dense(quantization_config={"quant_method": "modelopt", "producer": "x",
                                                             "quant_algo": "FP8"}), "producer is"),
    ("modelopt quant_algo a number", dense(quantization_config={"quant_method": "modelopt", "quant_algo": 5}),
     "quant_algo is 5"),
    ("quantized_layers a list", dense(quantization_config={"quant_method": "modelopt",
                                                          "quant_algo": "MIXED_PRECISION", "quantized_layers": [1]}),
     "quantized_layers is a list"),
    ("moe_layers a string", moe(decoder_sparse_step=None, moe_layers="abc"), "moe_layers is"),
    ("moe_layers nested lists", moe(decoder_sparse_step=None, moe_layers=[[1]]), "moe_layers[0] is a list"),
    ("mlp_only_layers a number", moe(mlp_only_layers=5), "mlp_only_layers is 5"),
    ("mlp_only_layers nested lists", moe(mlp_only_layers=[[1]]), "mlp_only_layers[0] is a list"),
    ("experts negative", moe(num_experts=-1), "num_experts is -1"),
    ("experts 10^12", moe(num_experts=10**12), "num_experts"),
    ("more experts per token than experts", moe(num_experts_per_tok=10**9), "num_experts_per_tok"),
    ("sparse step negative", moe(decoder_sparse_step=-1), "decoder_sparse_step is -1"),
    ("shared experts a string", moe(n_shared_experts="x"), "n_shared_experts"),
    ("config a list", [1, 2], "config.json is a list"),
]


@pytest.mark.parametrize(("case", "config", "named"), HOSTILE_CONFIGS, ids=[c[0] for c in HOSTILE_CONFIGS])
def test_hostile_config_is_unknown_and_names_the_field(case, config, named):
    _, advice, elapsed = judge(copy.deepcopy(config))
    assert elapsed < HANG_GUARD_S, f"{case}: {elapsed:.1f} s"
    assert advice.verdict == "unknown", (case, advice.verdict, advice.unknowns)
    assert any(named in u for u in advice.unknowns), (named, advice.unknowns)
    # Nothing is planned from nonsense: no memory plan or speed bound, no --max-model-len to copy.
    assert advice.memory is None and advice.performance.decode_tokens_per_s_bound is None
    assert advice.launch is None or "--max-model-len" not in advice.launch.argv
    # The sentence quotes at most a short piece of the value: never 10^8 characters.
    assert all(len(u) < 300 for u in advice.unknowns)


@pytest.mark.parametrize(
    ("case", "hf_quant", "named"),
    [
        ("producer a string", {"producer": "x", "quantization": {"quant_algo": "FP8"}}, "producer is"),
        ("quantization a list", {"quantization": [1]}, "quantization is a list"),
        ("not an object", ["FP8"], "hf_quant_config.json is a list"),
    ],
)
def test_hostile_hf_quant_config_is_unknown_and_names_the_field(case, hf_quant, named):
    _, advice, _ = judge(dense(), hf_quant=hf_quant)
    assert advice.verdict == "unknown" and any(named in u for u in advice.unknowns), advice.unknowns


@pytest.mark.parametrize(
    ("case", "config"),
    [
        ("integral floats", dense(num_hidden_layers=36.0, hidden_size=4096.0)),
        ("explicit head_dim with a hidden size heads do not divide", dense(hidden_size=4000, head_dim=128)),
        ("no architectures", {k: v for k, v in dense().items() if k != "architectures"}),
        ("nulls where values are optional", dense(sliding_window=None, head_dim=None, rope_scaling=None)),
        ("a single layer", dense(num_hidden_layers=1)),
        ("empty text_config falls back to the top level", dense(text_config={})),
    ],
)
def test_odd_but_valid_configs_get_a_real_verdict(case, config):
    facts, advice, _ = judge(config)
    assert facts.problems == ()
    assert advice.verdict in ("ok", "caution"), (case, advice.unknowns)
    assert advice.memory is not None and advice.memory.kv_cache_tokens and advice.memory.kv_cache_tokens > 0


def _real_configs() -> list[tuple[str, dict[str, Any], Any]]:
    # The real public configs copied into tests/fixtures/configs (the project never reads ../shared).
    # A ModelOpt export's hf_quant_config.json sits beside its config as NAME.hf_quant_config.json.
    found = [(p.name, json.loads(p.read_text()), fr.hf_quant_config(p.stem)) for p in sorted(fr.CONFIGS.glob("*.json"))
             if not p.name.endswith(".hf_quant_config.json")]
    found += [(repo, spec["config"], spec.get("hf_quant_config")) for repo, spec in sorted(fr.repos().items())
              if spec.get("config") is not None]
    builders = (fr.deepseek_v3, fr.llama4_scout, fr.minimax_m2, fr.gpt_oss_20b, fr.gpt_oss_120b, fr.llama_405b)
    return found + [(b.__name__, b(), None) for b in builders]


REAL_CONFIGS = _real_configs()


@pytest.mark.parametrize(("name", "config", "hf_quant"), REAL_CONFIGS, ids=[c[0] for c in REAL_CONFIGS])
def test_no_real_config_is_out_of_bounds(name, config, hf_quant):
    facts, _, _ = judge(copy.deepcopy(config), hf_quant=copy.deepcopy(hf_quant))
    assert facts.problems == ()


@pytest.mark.parametrize(
    ("case", "api", "verdicts"),
    [
        ("size a string", {"siblings": [{"rfilename": "model.safetensors", "size": "16000000000"}]}, {"unknown"}),
        ("size negative", {"siblings": [{"rfilename": "model.safetensors", "size": -12}]}, {"unknown"}),
        ("size None", {"siblings": [{"rfilename": "model.safetensors", "size": None}]}, {"unknown"}),
        ("size zero", {"siblings": [{"rfilename": "model.safetensors", "size": 0}]}, {"unknown"}),
        ("size 10^400", {"siblings": [{"rfilename": "model.safetensors", "size": 10**400}]}, {"unknown"}),
        ("file name a number", {"siblings": [{"rfilename": 5, "size": 3}]}, {"unknown"}),
        ("no file name", {"siblings": [{"size": 3}]}, {"unknown"}),
        ("sibling a number", {"siblings": [5]}, {"unknown"}),
        ("siblings a string", {"siblings": "abc"}, {"unknown"}),
        ("safetensors a list", {"siblings": [{"rfilename": "model.safetensors", "size": 16 * GB}],
                                "safetensors": [1]}, {"ok"}),
        ("safetensors parameters a string", {"siblings": [{"rfilename": "model.safetensors", "size": 16 * GB}],
                                             "safetensors": {"parameters": "x", "total": "x"}}, {"ok"}),
        ("tags a string", {"siblings": [{"rfilename": "model.safetensors", "size": 16 * GB}], "tags": "abc"},
         {"ok"}),
        ("tags a number", {"siblings": [{"rfilename": "model.safetensors", "size": 16 * GB}], "tags": 5}, {"ok"}),
        ("cosmetic fields of the wrong type",
         {"siblings": [{"rfilename": "model.safetensors", "size": 16 * GB}], "cardData": [1], "gated": 5,
          "private": "x", "downloads": "x", "likes": [1]}, {"ok"}),
        ("not an object", [1], {"unknown"}),
    ],
)
def test_hostile_model_info_is_tolerated(case, api, verdicts):
    facts, advice, _ = judge(dense(), api=api)
    assert advice.verdict in verdicts, (case, advice.verdict, advice.unknowns)
    assert isinstance(facts.tags, tuple) and all(isinstance(t, str) for t in facts.tags)
    assert facts.downloads is None or isinstance(facts.downloads, int)
    assert facts.likes is None or isinstance(facts.likes, int)
    assert facts.private is None or isinstance(facts.private, bool)
    assert facts.license is None or isinstance(facts.license, str)
    assert facts.weights_bytes is None or facts.weights_bytes > 0
    assert_sane(advice)


# --- a seeded random mutation loop over the real configs: cheap, deterministic ---

HOSTILE_VALUES: list[Any] = [
    None, True, False, 0, -1, 10**12, 10**400, 1e308, -1e308, float("nan"), float("inf"), 0.5, "", "abc", "36",
    [], [1], [[1]], ["x"] * 3, {}, {"a": 1}, {"num_hidden_layers": -1},
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a JSON value (dict keys and list indices)."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node[:8]):
            found += _paths(value, (*prefix, index))
    return found


def _mutate(config: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    mutated = copy.deepcopy(config)
    for _ in range(rng.randint(1, 3)):
        paths = _paths(mutated)
        if not paths:
            break
        *parents, last = rng.choice(paths)
        node = mutated
        for key in parents:
            node = node[key]
        node[last] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
    return mutated


def test_random_mutations_of_real_configs_never_raise():
    rng = random.Random(9)  # the number: the same mutations every run
    verdicts: dict[str, int] = {}
    for name, config, hf_quant in REAL_CONFIGS:
        for _ in range(40):
            mutated = _mutate(config, rng)
            quant = _mutate(hf_quant, rng) if hf_quant and rng.random() < 0.5 else hf_quant
            try:
                _, advice, elapsed = judge(mutated, hf_quant=quant)
            except Exception as exc:  # pragma: no cover - the failure message is the point
                pytest.fail(f"{name}: {type(exc).__name__}: {exc} for {json.dumps(mutated, default=str)[:600]}")
            assert elapsed < HANG_GUARD_S, name
            assert_sane(advice)
            verdicts[advice.verdict] = verdicts.get(advice.verdict, 0) + 1
    assert verdicts.get("unknown", 0) > 0  # the loop does reach the nonsense


def test_mutated_model_info_never_raises():
    rng = random.Random(9)
    api = {"siblings": [{"rfilename": "config.json", "size": 700},
                        {"rfilename": "model-00001-of-00002.safetensors", "size": 8 * GB},
                        {"rfilename": "model-00002-of-00002.safetensors", "size": 8 * GB}],
           "safetensors": {"parameters": {"BF16": 8_190_000_000}, "total": 8_190_000_000},
           "tags": ["transformers", "qwen3"], "cardData": {"license": "apache-2.0"}, "gated": False,
           "private": False, "downloads": 10, "likes": 2}
    for _ in range(300):
        mutated = _mutate(api, rng)
        try:
            _, advice, _ = judge(dense(), api=mutated)
        except Exception as exc:  # pragma: no cover
            pytest.fail(f"{type(exc).__name__}: {exc} for {json.dumps(mutated, default=str)[:600]}")
        assert_sane(advice)
