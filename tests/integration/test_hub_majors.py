"""spark-tui supports both huggingface_hub majors: 2.x (on httpx2) and 1.x (on httpx; the major vLLM's own
environments often pin). With 1.x, every Hub error used to be a traceback (hub/fetch.py caught httpx2's exceptions).

huggingface_hub 1.0.0, the floor pyproject allows, is installed from the package registry into a throw-away folder
that shadows the 2.x in this environment (its dependencies, httpx included, are already here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_check_cli import PINNED, one_sentence_error
from tests.support.fault_proxy import closed_port

OLDEST = "1.0.0"


@pytest.fixture(scope="module")
def hub_1x(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("huggingface_hub_1x")
    try:
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                               f"huggingface_hub=={OLDEST}"], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.skip("pip could not reach a package registry in time")
    if proc.returncode != 0:
        pytest.skip(f"pip could not install huggingface_hub {OLDEST}: {proc.stderr.strip()[-200:]}")
    return target


def test_check_works_and_errors_are_sentences_with_huggingface_hub_1x(cli, hub_1x):
    env = {"PYTHONPATH": str(hub_1x)}
    version = subprocess.run([sys.executable, "-c", "import huggingface_hub; print(huggingface_hub.__version__)"],
                             env={**os.environ, **env}, capture_output=True, text=True).stdout.strip()
    assert version == OLDEST
    ok = cli("check", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", *PINNED, env=env)
    assert ok.code == 0 and "Verdict" in ok.out, ok.err
    refused = cli("check", "RedHatAI/Qwen3-30B-A3B-NVFP4", env={**env, "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"})
    assert "Cannot reach" in one_sentence_error(refused)
    assert "No model" in one_sentence_error(cli("check", "RedHatAI/No-Such-Model", env=env))
