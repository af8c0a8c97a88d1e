"""The command line: `spark-tui` (the app) and the headless subcommands.

Exit status is a contract: 0 ok, 1 caution, 2 incompatible, 3 unknown (and any failure: model not
found, gated, network down with nothing cached, bad arguments). Failures print one sentence, never a
traceback; `check --json` also prints its failure object on stdout (report.failure_to_json). Nothing here imports
Textual; `check` loads only what it uses.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from spark_tui import __version__
from spark_tui.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, RulesError, SparkTuiError, UsageError

VERDICT_EXIT = {"ok": 0, "caution": 1, "incompatible": 2, "unknown": 3}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's default exit 2 would read as "incompatible"
        # One sentence and where to look, not argparse's usage block (which buries the sentence); main() says it
        # (and `check --json` gives scripts its failure object).
        raise UsageError(f"{message}.", f"See: {self.prog} --help")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _port(text: str) -> int:
    """A TCP port the server could really listen on (the same check `serve` makes)."""
    from spark_tui.engines.validate import port

    try:
        return port(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number") from None
    except UsageError as error:
        raise argparse.ArgumentTypeError(error.message.removeprefix("--port ").rstrip(".")) from None


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0.05 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0.05 and 1.0, not {value:g}")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None


def _add_planning(p: argparse.ArgumentParser, with_port: bool = True) -> None:
    p.add_argument("--engine", choices=["vllm", "trtllm", "llamacpp"], default="vllm")
    p.add_argument("--engine-version", metavar="V", help="engine version to advise for (default: installed, "
                   "else the newest the rules know)")
    p.add_argument("--hardware", default="auto", metavar="auto|NAME", help="probe this machine, or a profile "
                   "(spark-tui hw --list)")
    p.add_argument("--gpus", type=_positive_int, metavar="N")
    p.add_argument("--gpu-memory-gib", type=_float, metavar="X", help="override the memory per GPU")
    p.add_argument("--tensor-parallel-size", "-tp", type=_positive_int, default=1, metavar="N")
    p.add_argument("--nodes", type=_positive_int, default=1, metavar="N",
                   help="plan across N machines like this one on vLLM's multi-node engine (e.g. two Sparks over CX-7)")
    p.add_argument("--layout", choices=["auto", "tp", "pp"], default="auto",
                   help="across nodes: tensor parallel over every GPU (tp), or a pipeline stage per node (pp); "
                   "auto: tp with one GPU per node (a Spark), pp with several")
    p.add_argument("--distributed", choices=["auto", "mp", "ray"], default="auto",
                   help="across nodes: vLLM's own multi-node engine (mp, --nnodes, vLLM >= 0.11.1) or a Ray cluster; "
                   "auto: mp where the version has it")
    p.add_argument("--gpu-memory-utilization", type=_fraction, metavar="F")
    p.add_argument("--max-model-len", type=_positive_int, metavar="N")
    p.add_argument("--kv-cache-dtype", default="auto",
                   choices=["auto", "bfloat16", "float16", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc", "int8",
                            "f16", "bf16", "f32", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl"],
                   help="vLLM's names, or llama.cpp's -ctk/-ctv types (f16, q8_0, q4_0, …) with --engine llamacpp")
    p.add_argument("--max-num-batched-tokens", type=_positive_int, metavar="N")
    p.add_argument("--max-num-seqs", type=_positive_int, metavar="N")
    p.add_argument("--enforce-eager", action="store_true")
    p.add_argument("--trust-remote-code", action="store_true", help="add --trust-remote-code to the launch plan")
    gguf = p.add_mutually_exclusive_group()
    gguf.add_argument("--gguf-file", metavar="NAME", help="GGUF repos: plan for this file (part 1 of a split one)")
    gguf.add_argument("--quant", metavar="TYPE", help="GGUF repos: plan for this quant type (e.g. Q4_K_M, Q8_0); "
                      "default: Q4_K_M, then Q8_0, then the first file, like llama.cpp's -hf")
    p.add_argument("--host", default="127.0.0.1")
    if with_port:
        p.add_argument("--port", type=_port, default=8000)
    p.add_argument("--rules", type=Path, action="append", metavar="PATH", help="extra rules file or folder")


# Which module adds each command's parser; `check` and `hw` are defined here.
_COMMAND_GROUPS = {"check": "check", "hw": "hw", "rules": "rules", "serve": "serve", "ps": "serve", "logs": "serve",
                   "stop": "serve", "bench": "serve", "pull": "pull", "cache": "pull", "calibration": "calibration",
                   "cluster": "cluster"}
_GLOBAL_OPTIONS_WITH_VALUE = ("--hardware", "--rules")


def _command_in(argv: list[str]) -> str | None:
    """The command named in argv (the first word that is not a global option or its value), if it is one."""
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token in _GLOBAL_OPTIONS_WITH_VALUE:
            skip = True
        elif token == "--":
            return None
        elif not token.startswith("-"):
            return token if token in _COMMAND_GROUPS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or (``only`` = a command) just what that command needs: building every
    sub-command's parser costs more than a warm `check` does its work, so a named command skips the rest."""
    group = _COMMAND_GROUPS.get(only) if only else None
    parser = _Parser(prog="spark-tui", description="Model manager and compatibility advisor for DGX Spark "
                     "and other NVIDIA GPUs. Without a command, starts the interactive app.")
    parser.add_argument("--version", action="version", version=f"spark-tui {__version__}")
    parser.add_argument("--hardware", default="auto", metavar="auto|NAME",
                        help="for the app: plan for this machine (auto) or a hardware profile")
    parser.add_argument("--rules", type=Path, action="append", metavar="PATH", help="for the app: extra rules")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    if group in (None, "check"):
        check = sub.add_parser("check", help="will MODEL run here, on which engine, with what memory and command")
        check.add_argument("model", help="Hugging Face model id (owner/name) or a local checkpoint directory")
        check.add_argument("--revision", metavar="R")
        _add_planning(check)
        check.add_argument("--offline", action="store_true", help="answer from the cache only")
        check.add_argument("--refresh", action="store_true", help="ignore cached metadata and ask the Hub again")
        check.add_argument("--json", action="store_true", help="print one JSON object")
        check.add_argument("--verbose", "-v", action="store_true", help="show every finding in full")

    if group in (None, "hw"):
        hw = sub.add_parser("hw", help="what this machine is, as the advisor sees it")
        hw.add_argument("--hardware", default="auto", metavar="auto|NAME")
        hw.add_argument("--list", action="store_true", help="list the hardware profiles")
        hw.add_argument("--json", action="store_true")

    if group in (None, "rules"):
        from spark_tui.rules_cli import add_parsers as add_rules_parsers

        add_rules_parsers(sub)
    if group in (None, "serve"):
        from spark_tui.serve_cli import add_parsers

        add_parsers(sub, lambda p: _add_planning(p, with_port=False))
    if group in (None, "pull"):
        from spark_tui.pull_cli import add_parsers as add_pull_parsers

        add_pull_parsers(sub)
    if group in (None, "calibration"):
        from spark_tui.calibration_cli import add_parsers as add_calibration_parsers

        add_calibration_parsers(sub)
    if group in (None, "cluster"):
        from spark_tui.cluster_cli import add_parsers as add_cluster_parsers

        add_cluster_parsers(sub)
    return parser


def _print_error(error: SparkTuiError) -> None:
    sys.stderr.write(f"spark-tui: {error.message}\n")
    if error.hint:
        sys.stderr.write(f"  {error.hint}\n")
    if isinstance(error, RulesError):
        for problem in error.problems:
            sys.stderr.write(f"  {problem}\n")


def _load_rules(extra: list[Path] | None) -> Any:
    from spark_tui.cli_requests import report_rule_problems
    from spark_tui.planning import load_rules

    result = load_rules(extra)
    report_rule_problems(result)
    return result


def _advise(args: argparse.Namespace) -> Any:
    from spark_tui.cli_requests import advice_request
    from spark_tui.planning import advise_request

    return advise_request(advice_request(args), _load_rules(args.rules))


def cmd_check(args: argparse.Namespace) -> int:
    from spark_tui.report import advice_to_json, render_text, use_color
    from spark_tui.rules.knowledge import active_knowledge

    advice = _advise(args)
    knowledge = active_knowledge()  # the rules set the advice used: said with it, and whether it is stale
    if args.json:
        print(json.dumps(advice_to_json(advice, knowledge), indent=2))
    else:
        sys.stdout.write(render_text(advice, color=use_color(), verbose=args.verbose, knowledge=knowledge))
    return VERDICT_EXIT[advice.verdict]


def cmd_hw(args: argparse.Namespace) -> int:
    from spark_tui.hardware import resolve_hardware
    from spark_tui.hardware.profiles import load_profiles
    from spark_tui.report import hardware_to_json, render_hardware

    if args.list:
        profiles = load_profiles()
        if args.json:
            print(json.dumps([{"name": p.id, "title": p.title, "compute_capability": p.compute_capability,
                               "unified_memory": p.unified_memory, "memory_bytes": p.memory_bytes,
                               "bandwidth_gbps": p.bandwidth_gbps} for p in profiles.values()], indent=2))
        else:
            for p in profiles.values():
                print(f"{p.id:13} {p.title:42} CC {p.compute_capability:5} {p.memory_bytes / 1024**3:6.1f} GiB "
                      f"{p.bandwidth_gbps:6.0f} GB/s{'  unified' if p.unified_memory else ''}")
        return 0
    hardware = resolve_hardware(args.hardware)
    if args.json:
        print(json.dumps(hardware_to_json(hardware), indent=2))
    else:
        sys.stdout.write(render_hardware(hardware))
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    if not sys.stdout.isatty():
        raise UsageError("The interactive app needs a terminal.", "For scripts use: spark-tui check MODEL --json")
    if args.hardware != "auto":
        from spark_tui.hardware.profiles import load_profiles

        if args.hardware not in load_profiles():
            from spark_tui.hardware import resolve_hardware

            resolve_hardware(args.hardware)  # raises the "unknown profile" sentence with suggestions
    from spark_tui.tui import run_app  # Textual is imported here only

    return run_app(hardware=args.hardware, rules=args.rules)


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    if command == "check":
        return cmd_check
    if command == "hw":
        return cmd_hw
    if command == "rules":
        from spark_tui import rules_cli

        return rules_cli.cmd_rules
    if command == "calibration":
        from spark_tui import calibration_cli

        return calibration_cli.cmd_calibration
    if command == "cluster":
        from spark_tui import cluster_cli

        return cluster_cli.cmd_cluster
    if command == "serve":
        from spark_tui import serve_cli

        return serve_cli.cmd_serve
    if _COMMAND_GROUPS[command] == "pull":
        from spark_tui import pull_cli

        return pull_cli.cmd_pull if command == "pull" else pull_cli.cmd_cache
    from spark_tui import serve_cli

    return {"ps": serve_cli.cmd_ps, "logs": serve_cli.cmd_logs, "stop": serve_cli.cmd_stop,
            "bench": serve_cli.cmd_bench}[command]


def _wants_check_json(words: list[str]) -> bool:
    """`check … --json`, read from the words themselves: a script that asked for JSON gets its failure object even
    when the arguments could not be parsed."""
    if _command_in(words) != "check":
        return False
    return "--json" in (words[:words.index("--")] if "--" in words else words)


def _print_check_failure(error: SparkTuiError | None, args: argparse.Namespace | None, message: str,
                         kind: str) -> None:
    """The object `check --json` prints when there is no advice (the sentence still goes to stderr)."""
    from spark_tui.report import failure_to_json

    data = failure_to_json(error, kind=kind, message=message, model=getattr(args, "model", None),
                           revision=getattr(args, "revision", None))
    with contextlib.suppress(BrokenPipeError):  # nobody reads it any more
        print(json.dumps(data, indent=2), flush=True)


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    as_json = _wants_check_json(words)
    args: argparse.Namespace | None = None
    try:
        args = build_parser(only=_command_in(words)).parse_args(argv)
        if args.command is None:
            return cmd_app(args)
        return _handler(args.command)(args)
    except SparkTuiError as error:
        _print_error(error)
        if as_json:
            _print_check_failure(error, args, error.message, error.kind)
        return error.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("spark-tui: interrupted\n")
        if as_json:
            _print_check_failure(None, args, "Interrupted.", "interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the last resort: a bug of ours must still end in one sentence, not a traceback
        from spark_tui.crash import save_report

        report = save_report(exc, sys.argv if argv is None else ["spark-tui", *argv])
        where = f" A report was saved to {report}." if report else ""
        sentence = f"internal error ({type(exc).__name__}); this is a bug in spark-tui.{where}"
        sys.stderr.write(f"spark-tui: {sentence}\n")
        sys.stderr.write(f"  Please report it{' with that file' if report else ''}: the command you ran and what "
                         "it printed.\n")
        if as_json:
            _print_check_failure(None, args, sentence[0].upper() + sentence[1:], "internal")
        return EXIT_INTERNAL
