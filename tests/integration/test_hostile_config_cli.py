"""`spark-tui check` on a local checkpoint folder whose config.json is nonsense: exit 3, the field named, no traceback.

The real command as a subprocess; the folder, caches and settings are this test's own (no network is needed:
a local folder never reaches the Hub, and HF_HUB_OFFLINE makes sure of it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import fixture_repos as fr

ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD_S = 60  # a subprocess on a loaded 2-core machine; a hang is what this guards against


def check(tmp_path: Path, config_text: str, *extra: str) -> subprocess.CompletedProcess[str]:
    model = tmp_path / "checkpoint"
    model.mkdir()
    (model / "config.json").write_text(config_text)
    with open(model / "model.safetensors", "wb") as fh:
        fh.truncate(16_000_000_000)  # sparse: only its size matters
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "SPARK_TUI_CACHE_DIR": str(tmp_path / "cache"),
           "SPARK_TUI_CONFIG_DIR": str(tmp_path / "config"), "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
    env.pop("SPARK_TUI_RULES", None)
    return subprocess.run([sys.executable, "-m", "spark_tui", "check", str(model), "--hardware", "gb10",
                           "--engine-version", "0.28.0", *extra], capture_output=True, text=True, env=env,
                          timeout=HANG_GUARD_S, cwd=ROOT)


def qwen(**changes: object) -> str:
    cfg = fr.config("Qwen__Qwen3-8B")
    cfg.update(changes)
    return json.dumps(cfg)


NONSENSE = [
    ("10^8 layers", qwen(num_hidden_layers=10**8),
     "config.json: num_hidden_layers is 100000000; it must be at most 4,096"),
    ("zero heads", qwen(num_attention_heads=0), "config.json: num_attention_heads is 0; it must be at least 1"),
    # Python's json reads NaN; a bare `true` where a count belongs is not a count.
    ("NaN context and true layers", qwen(max_position_embeddings=float("nan"), num_hidden_layers=True),
     "config.json: num_hidden_layers is true, not a whole number"),
    ("architectures = 5", qwen(architectures=5), "config.json: architectures is 5, not a list"),
]


@pytest.mark.parametrize(("case", "config_text", "sentence"), NONSENSE, ids=[c[0] for c in NONSENSE])
def test_check_of_a_nonsense_config_is_unknown_naming_the_field(tmp_path, case, config_text, sentence):
    result = check(tmp_path, config_text)
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr and result.stderr == ""
    assert "Verdict: UNKNOWN" in result.stdout
    assert result.stdout.count(sentence) == 1, result.stdout
    assert "KV cache holds" not in result.stdout and "--max-model-len" not in result.stdout  # no plan from nonsense


def test_check_json_lists_the_problem_first(tmp_path):
    result = check(tmp_path, qwen(hidden_size=-4096), "--json")
    assert result.returncode == 3, result.stderr
    data = json.loads(result.stdout)
    assert data["verdict"] == "unknown"
    assert data["unknowns"][0] == "config.json: hidden_size is -4096; it must be at least 1"
