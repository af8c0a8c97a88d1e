"""A plain (non-editable) install must still find the shipped rules: they travel inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_wheel_ships_rules_and_they_load_from_the_installed_package(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("spark_tui-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "spark_tui/_data/rules/known-issues/vllm-fp4.toml" in names
    assert "spark_tui/_data/rules/hardware/profiles.toml" in names
    assert "spark_tui/_data/rules/catalog.toml" in names and "spark_tui/_data/rules/engines.toml" in names
    # Unpack it somewhere else and import from there: data_dir() must find _data/rules.
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    code = ("import spark_tui.paths as p, spark_tui.rules as r; d = p.data_dir(); "
            "assert d.parts[-2:] == ('_data', 'rules'), d; "
            "res = r.load_rules(r.builtin_rule_paths()); assert len(res.rules) >= 15 and not res.problems; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(target)},
                         capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
