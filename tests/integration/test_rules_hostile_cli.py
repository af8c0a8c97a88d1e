"""Hostile user rules files through the real commands: `check`, `serve --dry-run`, `rules`, `rules lint`.

The user rules folder (SPARK_TUI_CONFIG_DIR/rules/) is read by every command, so a bad file there must be one
problem line, never a traceback, a hang or a changed launch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

PINNED = ("--engine-version", "0.28.0")
MODEL = ("RedHatAI/Qwen3-8B-NVFP4", "--hardware", "gb10")

HOSTILE = '''[[rule]]
id = "local-hostile"
title = "Looks helpful"
severity = "info"
detail = "d"
fix = "f"
references = []
launch_flags = ["--trust-remote-code", "--host", "0.0.0.0"]
[rule.launch_env]
LD_PRELOAD = "/tmp/evil.so"
[rule.when]
engine = "vllm"
model_type = "qwen3"
'''


def user_rules(name: str, content: bytes | None = None) -> Path:
    folder = Path(os.environ["SPARK_TUI_CONFIG_DIR"]) / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if content is not None:
        path.write_bytes(content)
    return path


def no_traceback(result) -> None:
    assert "Traceback" not in result.err and "Traceback" not in result.out, result.err[-3000:]


def test_a_hostile_user_rule_cannot_rebind_or_preload_the_launch(cli):
    path = user_rules("hostile.toml", HOSTILE.encode())
    text = cli("check", *MODEL, *PINNED)
    no_traceback(text)
    assert text.code in (0, 1), text.err
    launch = text.out.split("\nLaunch\n", 1)[1]
    assert "0.0.0.0" not in launch and "LD_PRELOAD" not in launch and "--trust-remote-code" not in launch
    assert "--host 127.0.0.1" in launch
    line = HOSTILE.splitlines().index('launch_flags = ["--trust-remote-code", "--host", "0.0.0.0"]') + 1
    assert f"spark-tui: rules: {path}:{line}: launch_flags: '--trust-remote-code' is not a tuning flag" in text.err
    data = json.loads(cli("check", *MODEL, "--json", *PINNED).out)
    argv = data["launch"]["argv"]
    assert argv[argv.index("--host") + 1] == "127.0.0.1" and argv.count("--host") == 1
    assert "0.0.0.0" not in argv and "--trust-remote-code" not in argv and "LD_PRELOAD" not in data["launch"]["env"]
    assert all(f["rule"] != "local-hostile" for f in data["findings"])  # the rule is refused whole
    dry = cli("serve", *MODEL, "--dry-run", "--port", "8123")
    no_traceback(dry)
    assert dry.code == 0 and "0.0.0.0" not in dry.out and "LD_PRELOAD" not in dry.out
    assert "--trust-remote-code" not in dry.out


def test_rules_lint_lists_each_disallowed_setting_with_file_and_line(cli, tmp_path):
    path = tmp_path / "hostile.toml"
    path.write_text(HOSTILE)
    r = cli("rules", "lint", str(path))
    no_traceback(r)
    assert r.code == 1
    lines = HOSTILE.splitlines()
    env_line = next(i for i, line in enumerate(lines, 1) if line.startswith("LD_PRELOAD"))
    flags_line = next(i for i, line in enumerate(lines, 1) if line.startswith("launch_flags"))
    assert f"{path}:{env_line}: launch_env.LD_PRELOAD: " in r.out
    assert f"{path}:{flags_line}: launch_flags: " in r.out


def test_allowed_knobs_are_shown_with_the_rule_that_added_them(cli, tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text(HOSTILE.replace('launch_flags = ["--trust-remote-code", "--host", "0.0.0.0"]',
                                    'launch_flags = ["--enable-prefix-caching"]')
                    .replace('LD_PRELOAD = "/tmp/evil.so"', 'VLLM_USE_DEEP_GEMM = "0"'))
    data = json.loads(cli("check", *MODEL, "--json", "--rules", str(mine), *PINNED).out)
    assert data["launch"]["env"] == {"VLLM_USE_DEEP_GEMM": "0"}
    assert data["launch"]["from_rules"] == [
        {"rule": "local-hostile", "kind": "env", "name": "VLLM_USE_DEEP_GEMM", "value": "0"},
        {"rule": "local-hostile", "kind": "flag", "name": "--enable-prefix-caching", "value": None},
    ]
    text = cli("check", *MODEL, "--rules", str(mine), *PINNED).out
    assert "(added by rule local-hostile: VLLM_USE_DEEP_GEMM=0 --enable-prefix-caching)" in text
    dry = cli("serve", *MODEL, "--rules", str(mine), "--dry-run", *PINNED)
    assert dry.code == 0 and "--enable-prefix-caching" in dry.out
    assert "spark-tui: note: added by rule local-hostile: VLLM_USE_DEEP_GEMM=0 --enable-prefix-caching" in dry.err


def test_a_non_utf8_user_rules_file_is_one_problem_and_every_command_still_works(cli, tmp_path):
    path = user_rules("latin1.toml", HOSTILE.replace("Looks helpful", "Caf\xe9").encode("latin-1"))
    line = HOSTILE.splitlines().index('title = "Looks helpful"') + 1
    problem = f"{path}:{line}: not UTF-8 text (byte 0xe9); save the file as UTF-8."
    r = cli("check", *MODEL, "--json", *PINNED)
    no_traceback(r)
    assert r.code in (0, 1) and json.loads(r.out)["verdict"] in ("ok", "caution")
    assert r.err.splitlines() == [f"spark-tui: rules: {problem}"]
    listing = cli("rules")
    no_traceback(listing)
    assert listing.code == 0 and "vllm-ct-nvfp4-moe-nongated" in listing.out
    lint = cli("rules", "lint", str(path.parent))
    no_traceback(lint)
    assert lint.code == 1 and lint.out.splitlines() == [problem]  # a problem at a line of a file that was read
    extra = tmp_path / "extra.toml"
    extra.write_bytes(path.read_bytes())
    r = cli("check", *MODEL, "--rules", str(extra), *PINNED)
    no_traceback(r)
    assert r.code in (0, 1) and f"{extra}:{line}: not UTF-8 text" in r.err


def test_a_user_rules_fifo_does_not_hang_any_command(cli, tmp_path):
    os.mkfifo(user_rules("pipe.toml"))
    for args in (("check", *MODEL, "--json", *PINNED), ("rules",)):
        for _ in range(2):  # the second run goes through the parsed-rules cache
            r = cli(*args, timeout=60)
            no_traceback(r)
            assert r.code in (0, 1), r.err
            assert "pipe.toml: not a regular file; not read." in r.err
    lint = cli("rules", "lint", str(user_rules("pipe.toml")), timeout=60)
    assert lint.code == 3 and lint.out.splitlines() == [f"{user_rules('pipe.toml')}: not a regular file; not read."]


def test_a_rules_file_linked_to_dev_zero_does_not_hang_or_eat_memory(cli, tmp_path):
    # Before the fix this read /dev/zero until memory ran out: tests/unit/test_rules_hostile.py shows that
    # safely, in a process with a small address space; here the real commands must answer at once.
    user_rules("zero.toml").symlink_to("/dev/zero")
    for args in (("check", *MODEL, "--json", *PINNED), ("rules",)):
        for _ in range(2):  # the second run goes through the parsed-rules cache
            r = cli(*args, timeout=60)
            no_traceback(r)
            assert r.code in (0, 1), r.err
            assert "zero.toml: not a regular file; not read." in r.err
    extra = tmp_path / "zero.toml"
    extra.symlink_to("/dev/zero")
    for args in (("rules", "lint", str(extra)), ("rules", "--rules", str(extra))):
        r = cli(*args, timeout=60)
        no_traceback(r)
        assert f"{extra}: not a regular file; not read." in r.out + r.err


def test_a_non_utf8_file_name_in_the_user_rules_folder(cli):
    folder = user_rules("x").parent
    name = Path(os.fsdecode(bytes(folder) + b"/caf\xe9.toml"))
    name.write_bytes(HOSTILE.encode())
    r = cli("check", *MODEL, "--json", *PINNED)
    no_traceback(r)
    assert r.code in (0, 1) and "caf\\xe9.toml" in r.err
    lint = cli("rules", "lint", str(folder))
    no_traceback(lint)
    assert lint.code == 1 and "caf\\xe9.toml" in lint.out


def test_a_user_rule_with_a_bad_regex_or_a_typo_is_skipped_by_check_with_lints_own_message(cli):
    text = HOSTILE.replace('launch_flags = ["--trust-remote-code", "--host", "0.0.0.0"]\n', "") \
        .replace('[rule.launch_env]\nLD_PRELOAD = "/tmp/evil.so"\n', 'log_patterns = ["(x+)+y", "(unclosed"]\n') \
        .replace('engine = "vllm"', 'engine = "vlm"')
    path = user_rules("typos.toml", text.encode())
    lint = cli("rules", "lint", str(path))
    no_traceback(lint)
    assert lint.code == 1 and len(lint.out.splitlines()) == 3, lint.out
    for args in (("check", *MODEL, "--json", *PINNED), ("check", *MODEL, *PINNED)):
        r = cli(*args)
        no_traceback(r)
        assert r.code in (0, 1), r.err
        for problem in lint.out.splitlines():  # the same message, and the rule is skipped
            assert f"spark-tui: rules: {problem}" in r.err
    findings = json.loads(cli("check", *MODEL, "--json", *PINNED).out)["findings"]
    assert all(f["rule"] != "local-hostile" for f in findings)
