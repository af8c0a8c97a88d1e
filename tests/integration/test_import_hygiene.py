"""`check` loads only what it uses: never Textual; on a warm cache not huggingface_hub either; with a hardware
profile not NVML. Textual is imported nowhere outside spark_tui/tui/."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

PROBE = """
import contextlib, io, json, sys
from spark_tui.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
roots = sorted({m.split('.')[0] for m in sys.modules})
print(json.dumps({"code": code, "modules": roots}))
"""


def modules_after(*args: str) -> tuple[int, set[str]]:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True, cwd=ROOT)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return data["code"], set(data["modules"])


def test_warm_check_loads_neither_textual_nor_the_hub_client_nor_nvml(cli, hub):
    args = ("check", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--json")
    assert cli(*args).code == 0  # cold: fills the cache
    code, modules = modules_after(*args)
    assert code == 0
    assert {"textual", "huggingface_hub", "httpx2", "httpx", "pynvml", "rich", "psutil"}.isdisjoint(modules), modules


def test_cold_check_still_never_loads_textual(hub):
    code, modules = modules_after("check", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10")
    assert code == 0 and "huggingface_hub" in modules and "textual" not in modules


def test_rules_and_hw_profile_commands_are_light():
    for args in (("rules",), ("hw", "--hardware", "h100", "--json"), ("hw", "--list")):
        code, modules = modules_after(*args)
        assert code == 0 and {"textual", "huggingface_hub", "pynvml"}.isdisjoint(modules), args


def test_textual_only_inside_the_tui_package():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "spark_tui").rglob("*.py")
        if "tui" not in path.relative_to(ROOT / "spark_tui").parts[:1]
        and re.search(r"^\s*(from|import)\s+textual", path.read_text(), re.MULTILINE)
    ]
    assert offenders == []


def test_a_named_command_builds_only_its_own_parser_and_it_matches_the_full_one():
    from spark_tui.cli import _COMMAND_GROUPS, build_parser

    def shape(parser, command):
        sub = next(a for a in parser._actions if a.dest == "command")
        assert command in sub.choices, command
        found = sub.choices[command]
        def choices(action):  # a sub-command's choices are parsers: compare their names
            return sorted(action.choices) if isinstance(action.choices, dict) else action.choices
        return [(tuple(a.option_strings), a.dest, a.default, choices(a), a.nargs) for a in found._actions]

    full = build_parser()
    for command in _COMMAND_GROUPS:
        only = build_parser(only=command)
        assert shape(only, command) == shape(full, command), command
    only_check = next(a for a in build_parser(only="check")._actions if a.dest == "command")
    assert set(only_check.choices) == {"check"}


def test_the_command_is_found_past_the_global_options():
    from spark_tui.cli import _command_in

    assert _command_in(["--hardware", "gb10", "check", "m"]) == "check"
    assert _command_in(["--rules", "check", "hw"]) == "hw"  # "check" there is the value of --rules
    assert _command_in(["--hardware=gb10", "ps"]) == "ps"
    assert _command_in(["chek", "m"]) is None  # unknown: the full parser says what the commands are
    assert _command_in(["--", "check"]) is None
    assert _command_in([]) is None


def test_warm_check_skips_the_other_commands_and_their_imports(cli, hub):
    args = ("check", "RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10", "--json")
    assert cli(*args).code == 0
    out = subprocess.run([sys.executable, "-c", PROBE.replace("m.split('.')[0] for m in", "m for m in"), *args],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    modules = set(json.loads(out.stdout.strip().splitlines()[-1])["modules"])
    assert {"spark_tui.pull_cli", "spark_tui.serve_cli", "spark_tui.rules_cli", "tomllib", "difflib",
            "threading"}.isdisjoint(modules), modules
