"""The catalog of recommended models is data, and every entry is a repo the tests can judge."""

from __future__ import annotations

from spark_tui.paths import data_dir
from spark_tui.rules import load_catalog
from tests.support import fixture_repos


def test_catalog_loads_and_covers_the_seed_use_cases():
    entries, problems = load_catalog(data_dir() / "catalog.toml")
    assert problems == []
    use_cases = {e.use_case for e in entries}
    assert {"testing", "production (dense)", "large context", "vision-language"} <= use_cases
    ids = {e.id for e in entries}
    assert "RedHatAI/Qwen3-8B-NVFP4" in ids and "QuantTrio/MiniMax-M2-AWQ" in ids
    assert all(e.engine in ("vllm", "trtllm", "llamacpp") for e in entries)
    # The emulator serves every catalog model, so the app's tests see the whole catalog.
    assert ids <= set(fixture_repos.repos())
