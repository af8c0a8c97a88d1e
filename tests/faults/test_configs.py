"""Absurd, nonsensical and wrong-typed config.json files, judged through `check` on a local checkpoint folder and
through the Hub (the fault proxy serves the hostile config in place of the real one). Each is "unknown" (exit 3)
with a sentence or finding, quickly, never a traceback or a confident answer."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import Sandbox, judge
from tests.faults.test_hub import CONFIG, MODEL
from tests.support.fault_proxy import FaultProxy

BASE: dict[str, Any] = {
    "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 4096, "num_hidden_layers": 36,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 12288,
    "vocab_size": 151936, "max_position_embeddings": 40960, "torch_dtype": "bfloat16",
}

# (what, the config text)
HOSTILE: list[tuple[str, str]] = [
    ("10^12 layers", json.dumps({**BASE, "num_hidden_layers": 10**12})),
    ("1e308 layers", json.dumps({**BASE, "num_hidden_layers": 1e308})),
    ("10^8 layers", json.dumps({**BASE, "num_hidden_layers": 10**8})),
    ("10^400 hidden size", json.dumps({**BASE}).replace('"hidden_size": 4096', '"hidden_size": 1' + "0" * 400)),
    ("NaN heads", json.dumps({**BASE}).replace('"num_attention_heads": 32', '"num_attention_heads": NaN')),
    ("Infinity context", json.dumps({**BASE}).replace('"max_position_embeddings": 40960',
                                                      '"max_position_embeddings": Infinity')),
    ("architectures = 5", json.dumps({**BASE, "architectures": 5})),
    ("text_config = [1]", json.dumps({**BASE, "text_config": [1]})),
    ("moe_layers = 'abc'", json.dumps({**BASE, "moe_layers": "abc", "num_experts": 8})),
    ("layers as a string", json.dumps({**BASE, "num_hidden_layers": "36"})),
    ("layers as a list", json.dumps({**BASE, "num_hidden_layers": [36]})),
    ("heads as true", json.dumps({**BASE, "num_attention_heads": True})),
    ("negative layers", json.dumps({**BASE, "num_hidden_layers": -4})),
    ("zero hidden size", json.dumps({**BASE, "hidden_size": 0})),
    ("zero heads", json.dumps({**BASE, "num_attention_heads": 0})),
    ("zero KV heads", json.dumps({**BASE, "num_key_value_heads": 0})),
    ("negative context", json.dumps({**BASE, "max_position_embeddings": -1})),
    ("zero vocabulary", json.dumps({**BASE, "vocab_size": 0})),
    ("quantization_config = 'fp4'", json.dumps({**BASE, "quantization_config": "fp4"})),
    ("layer_types of 10^6 entries", json.dumps({**BASE, "layer_types": ["full_attention"] * 10**6})),
    ("100,000 nested brackets", "[" * 100_000 + "]" * 100_000),
    ("a JSON list", "[1, 2, 3]"),
    ("not JSON", "model_type = qwen3"),
    ("Latin-1 bytes", '{"model_type": "qw\xe9n3"}'),
]


def _write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_bytes(text.encode("latin-1") if "\xe9" in text else text.encode())
    (folder / "model.safetensors").write_bytes(b"\0" * 1024)
    return folder


def _id(row: tuple[str, str]) -> str:
    return re.sub(r"\W+", "-", row[0]).strip("-")


@pytest.mark.parametrize("row", HOSTILE, ids=[_id(r) for r in HOSTILE])
def test_hostile_config_in_a_local_folder(sandbox: Sandbox, row: tuple[str, str]) -> None:
    what, text = row
    folder = _write(sandbox.root / "ckpt", text)
    outcome = sandbox.run("check", str(folder), "--hardware", "gb10")
    judge(outcome, area="config", command="check ./ckpt", fault=what, bound_s=10.0, sentence=False)
    assert outcome.code == 3, f"{what}: a confident verdict ({outcome.code}) on nonsense:\n{outcome.out[:800]}"


@pytest.mark.parametrize("row", HOSTILE[:12:3], ids=[_id(r) for r in HOSTILE[:12:3]])
def test_hostile_config_from_the_hub(sandbox: Sandbox, proxy: FaultProxy, row: tuple[str, str]) -> None:
    what, text = row
    proxy.inject(CONFIG, "body", body=text.encode(), method="GET")
    outcome = sandbox.run("check", MODEL, "--hardware", "gb10", "--json")
    judge(outcome, area="config", command="check MODEL --json", fault=f"Hub config: {what}", bound_s=10.0,
          sentence=False)
    assert outcome.code == 3
    assert json.loads(outcome.out)["verdict"] == "unknown"  # advice or a failure object: a script reads either


def test_config_linked_to_dev_zero(sandbox: Sandbox) -> None:
    folder = sandbox.root / "ckpt"
    folder.mkdir()
    (folder / "config.json").symlink_to("/dev/zero")
    (folder / "model.safetensors").write_bytes(b"\0" * 1024)
    outcome = sandbox.run("check", str(folder), "--hardware", "gb10")
    judge(outcome, area="config", command="check ./ckpt", fault="config.json is a link to /dev/zero",
          contains="not a config")
