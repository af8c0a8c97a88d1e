"""`spark-tui cluster check [MODEL] [--json]`: is the cluster of the settings file ready for a multi-node launch?

Exit status: 0 every check passed on every node; 2 (as `check`'s "incompatible": a launch would fail) when any
failed; 3 when the cluster could not be checked at all (no or a bad [cluster] table, a bad model id, no ssh).
`--dry-run` prints the ssh command lines it would run (two per node) and runs nothing.
`--json` prints `{ok, nodes: [{host, ok, checks: [{name, ok, message}]}]}`, and on a failure of the last kind
`{ok: false, nodes: [], error: {kind, message, hint}}`."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

from spark_tui.errors import EXIT_INCOMPATIBLE, EXIT_OK, SparkTuiError, UsageError


def add_parsers(sub: Any) -> None:
    cluster = sub.add_parser("cluster", help="several nodes as one: check them over SSH before a multi-node launch")
    cluster_sub = cluster.add_subparsers(dest="cluster_command", parser_class=type(cluster))
    check = cluster_sub.add_parser("check", help="verify every node of [cluster] over SSH, in parallel: reachable, "
                                                 "same engine, the model's files, the interface, free memory, "
                                                 "NCCL/Gloo variables")
    check.add_argument("model", nargs="?", help="also check that this model (owner/name) is in each node's "
                                                "Hugging Face cache")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.add_argument("--dry-run", action="store_true", help="print the exact ssh commands, one per line, and run "
                                                              "nothing")


def cmd_cluster(args: argparse.Namespace) -> int:
    if args.cluster_command is None:
        raise UsageError("Say what to do: spark-tui cluster check [MODEL].")
    try:
        return _check(args)
    except SparkTuiError as error:
        if args.json:  # scripts that asked for JSON still get an object (main() says the sentence on stderr)
            print(json.dumps({"ok": False, "nodes": [], "error": {"kind": error.kind, "message": error.message,
                                                                  "hint": error.hint}}, indent=2))
        raise


def _check(args: argparse.Namespace) -> int:
    from spark_tui.cluster.checks import check_cluster
    from spark_tui.settings import load_cluster_settings

    if args.model is not None:
        from spark_tui.hub import validate_repo_id

        validate_repo_id(args.model)
        if "/" not in args.model:
            raise UsageError(f"'{args.model}' is not a Hugging Face model id (owner/name).",
                             "Example: spark-tui cluster check RedHatAI/Qwen3-8B-NVFP4")
    config = load_cluster_settings()  # every value validated before any ssh runs
    if args.dry_run:
        from spark_tui.cluster.checks import planned_commands

        for argv in planned_commands(config, args.model):
            print(shlex.join(argv))
        return EXIT_OK
    report = check_cluster(config, args.model)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        sys.stdout.write(render(report, config.head.host))
    return EXIT_OK if report.ok else EXIT_INCOMPATIBLE


def render(report: Any, head: str) -> str:
    """One line per check: ✓/✗, its name, and what was found or what to do."""
    lines = []
    width = max(len(c.name) for n in report.nodes for c in n.checks)
    for node in report.nodes:
        lines.append(f"{node.host}{' (head)' if node.head else ''}")
        for check in node.checks:
            lines.append(f"  {'✓' if check.ok else '✗'} {check.name:{width}}  {check.message}")
    failed = [n for n in report.nodes if not n.ok]
    checks = sum(1 for n in report.nodes for c in n.checks if not c.ok)
    if failed:
        lines.append(f"Not ready: {checks} check{'s' if checks != 1 else ''} failed on {len(failed)} of "
                     f"{len(report.nodes)} nodes.")
    else:
        lines.append(f"Ready: {len(report.nodes)} nodes, head {head}.")
    return "\n".join(lines) + "\n"
