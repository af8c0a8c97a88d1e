"""`spark-tui serve / ps / logs / stop / bench`: launch and watch engine servers (the CLI half of issue 4)."""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from spark_tui.engines import validate
from spark_tui.errors import EXIT_UNKNOWN, SparkTuiError, UsageError


def cmd_serve(args: argparse.Namespace) -> int:
    from spark_tui.cli_requests import advice_request, report_rule_problems
    from spark_tui.engines.adapters import adapter_for
    from spark_tui.engines.supervisor import Supervisor
    from spark_tui.planning import advise_request, load_rules
    from spark_tui.report import render_text

    adapter = adapter_for(args.engine)  # an engine spark-tui cannot launch yet is said before anything is looked up
    if args.api_key and adapter.api_key_env is None:
        raise UsageError(f"{adapter.title} has no API key option, so --api-key cannot guard it.",
                         "Leave it on 127.0.0.1 (the default) and reach it through an SSH tunnel.")
    if args.name is not None:  # before anything is looked up: a bad name must never reach a path
        validate.server_name(args.name)
    port = _port(args.port_text, args.host)
    if args.nodes > 1:
        return _serve_nodes(args, port)
    if args.host not in ("127.0.0.1", "localhost", "::1") and not args.api_key:
        sys.stderr.write(f"spark-tui: warning: listening on {args.host} without --api-key lets anyone who can "
                         "reach this machine use the server.\n")
    runtime = _runtime(args)
    version = args.engine_version
    if version is None and runtime is not None and not args.dry_run:
        from spark_tui.engines.runtime import version_of

        version = version_of(runtime)  # the rules judge the engine version that will really run
    rules = load_rules(args.rules)
    report_rule_problems(rules)
    advice = advise_request(advice_request(args, port=port, engine_version=version), rules)
    if advice.verdict == "incompatible" and not args.force:
        sys.stdout.write(render_text(advice))
        raise SparkTuiError(f"{args.model} is incompatible here; not launching.",
                            "Fix what the findings say, or pass --force to launch anyway.")
    from spark_tui.hardware.pressure import memory_pressure

    warning = memory_pressure(advice.hardware)
    if warning:
        sys.stderr.write(f"spark-tui: warning: {warning}\n")
    plan = advice.launch
    if args.dry_run:
        return _print_dry_run(plan, runtime, args)
    from spark_tui.calibration import prediction

    _print_launch_notes(adapter, plan)
    supervisor = Supervisor()
    record = supervisor.launch(plan, args.name, runtime=runtime,
                               api_key=args.api_key, prediction=prediction(advice, plan.argv))
    print(f"{record.name} {record.url}")
    if args.wait is None:
        return 0
    return _wait(supervisor, record, args.wait, rules.rules)


def _serve_nodes(args: argparse.Namespace, port: int) -> int:
    """serve --nodes N: vLLM's own multi-node engine on the [cluster] nodes over SSH (engines/multinode.py)."""
    from spark_tui.advisor.types import ClusterNodes
    from spark_tui.cli_requests import advice_request, report_rule_problems
    from spark_tui.planning import advise_request, load_rules
    from spark_tui.report import render_text
    from spark_tui.settings import has_cluster_settings, load_cluster_settings

    if args.engine != "vllm":
        raise UsageError(f"Across nodes spark-tui launches vLLM's multi-node engine only, not {args.engine}.")
    given = [flag for flag, value in (("--runtime", args.runtime), ("--image", args.image), ("--vllm", args.vllm),
                                      ("--executable", args.executable), ("--api-key", args.api_key)) if value]
    if given:
        raise UsageError(f"{given[0]} is not taken with --nodes: each node's runtime, image and vllm come from "
                         "[cluster].", "Set them in the settings file (README: Several Sparks).")
    notes: list[str] = []
    if not has_cluster_settings():
        if not args.dry_run:
            raise UsageError(f"serve --nodes {args.nodes} needs the nodes named in a [cluster] table of the settings "
                             "file.", 'For example: [cluster] nodes = ["spark-a", "spark-b"], interface = '
                             '"enp1s0f1np1" (README: Several Sparks).')
        from spark_tui.advisor.multinode import INTERFACE_PLACEHOLDER
        from spark_tui.cluster.config import ClusterConfig, ClusterNode

        config = ClusterConfig(tuple(ClusterNode(f"node{i + 1}", None, INTERFACE_PLACEHOLDER, "local", "vllm", None)
                                     for i in range(args.nodes)), None)
        addresses = [f"NODE{i + 1}_IP" for i in range(args.nodes)]
        notes.append("no [cluster] in the settings file: the hosts, addresses and interface are placeholders")
        version = args.engine_version
    else:
        config = load_cluster_settings()  # every value validated before any ssh runs
        if len(config.nodes) < args.nodes:
            raise UsageError(f"--nodes {args.nodes} needs that many nodes in [cluster]; it lists "
                             f"{len(config.nodes)}.")
        from dataclasses import replace

        from spark_tui.engines import multinode

        config = replace(config, nodes=config.nodes[:args.nodes])
        addresses = []
        for i, (address, problem) in enumerate(multinode.ask_addresses(config, config.nodes)):
            if problem is not None and not args.dry_run:
                raise UsageError(f"Cannot launch across nodes: {problem}",
                                 "Check the cluster first: spark-tui cluster check")
            if problem is not None:
                notes.append(f"{problem} (its address is a placeholder)")
            addresses.append(address or f"NODE{i + 1}_IP")
        version = args.engine_version
        if version is None and not addresses[0].endswith("_IP"):
            version = multinode.engine_version(config, config.head)  # the head's vLLM decides mp or Ray
    nodes = ClusterNodes(tuple(n.host for n in config.nodes), tuple(addresses), config.head.interface,
                         config.master_port, config.ray_port, tuple(n.ray_start_args for n in config.nodes),
                         tuple(n.interface for n in config.nodes))
    rules = load_rules(args.rules)
    report_rule_problems(rules)
    advice = advise_request(advice_request(args, port=port, engine_version=version, cluster=nodes), rules)
    if advice.verdict == "incompatible" and not args.force:
        sys.stdout.write(render_text(advice))
        raise SparkTuiError(f"{args.model} is incompatible here; not launching.",
                            "Fix what the findings say, or pass --force to launch anyway.")
    plan = advice.launch
    if args.dry_run:
        from spark_tui.engines import multinode

        for host, role, argv in multinode.ssh_commands(config, plan, args.name or "NAME"):
            print(f"# on {host} ({role})")
            print(shlex.join(argv))
        for note in [*notes, *plan.notes]:
            sys.stderr.write(f"spark-tui: note: {note}\n")
        return 0
    from spark_tui.engines.supervisor import Supervisor

    supervisor = Supervisor()
    record = supervisor.launch_cluster(plan, config, args.name)
    print(f"{record.name} {record.url}")
    if args.wait is None:
        return 0
    return _wait(supervisor, record, args.wait, rules.rules)


def _port(text: str, host: str) -> int:
    from spark_tui.engines.supervisor import next_free_port

    if text == "auto":
        return next_free_port(host, 8000)
    try:
        port = int(text)
    except ValueError:
        raise UsageError(f"--port must be a number or 'auto', not '{text}'.") from None
    return validate.port(port)


def _runtime(args: argparse.Namespace) -> Any:
    """Where the engine will run. A dry run shows the command for whatever runtime there is (none is fine: the
    plain plan); a real launch needs one."""
    from spark_tui.engines.runtime import resolve_runtime
    from spark_tui.settings import load_serve_settings

    settings = load_serve_settings()  # a damaged settings file is said even for a dry run
    if args.vllm and args.engine != "vllm":
        raise UsageError(f"--vllm names vLLM's executable; for --engine {args.engine} use --executable.")
    executable = args.executable or args.vllm
    if args.dry_run:
        with contextlib.suppress(UsageError):
            return resolve_runtime(settings, args.runtime, executable, args.image, engine=args.engine)
        return None
    runtime = resolve_runtime(settings, args.runtime, executable, args.image, engine=args.engine)
    if not runtime.image_present:
        sys.stderr.write(f"spark-tui: docker does not have {runtime.image} yet; it pulls it first (many GB).\n")
    return runtime


def _print_dry_run(plan: Any, runtime: Any, args: argparse.Namespace) -> int:
    from spark_tui.engines.adapters import adapter_for

    # The key goes to the engine in its environment (VLLM_API_KEY, LLAMA_API_KEY): never in a command line.
    adapter = adapter_for(plan.engine)
    secret_names = [adapter.api_key_env] if args.api_key and adapter.api_key_env else []
    if plan.files:  # written at launch into the server's own folder; a dry run writes nothing, it shows them
        from spark_tui.engines import plan_files
        from spark_tui.paths import state_dir

        where = plan_files.folder(state_dir(), args.name or "NAME")
        plan = plan_files.with_paths(plan, where)
        for file_name, text in plan.files.items():
            sys.stderr.write(f"spark-tui: note: the launch writes {where / file_name}:\n{text}")
    argv = adapter.command(plan, runtime, args.name or "NAME", secret_names)
    shown_env = dict(plan.env) if runtime is None or runtime.kind == "local" else {}
    for name in secret_names:
        shown_env[name] = "***"
    print("".join(f"{k}={shlex.quote(v)} " for k, v in shown_env.items()) + shlex.join(argv))
    for note in plan.notes:  # e.g. what a rule added to the command, and which rule
        sys.stderr.write(f"spark-tui: note: {note}\n")
    _print_launch_notes(adapter, plan)
    return 0


def _print_launch_notes(adapter: Any, plan: Any) -> None:
    """What an adapter says of the command it runs (llama-server: a GGUF it will download itself)."""
    for note in getattr(adapter, "launch_notes", lambda plan: [])(plan):
        sys.stderr.write(f"spark-tui: note: {note}\n")


def _wait(supervisor: Any, record: Any, seconds: float, rules: list) -> int:
    status = supervisor.wait_ready(record, seconds, rules)
    print(f"{record.name}: {status.state} ({status.progress})")
    if status.state == "ready":
        return 0
    for item in status.diagnosis:
        print(f"  known issue [{item['rule']}] {item['title']}\n    {item['line']}")
    if status.state in ("starting", "loading"):
        sys.stderr.write(f"spark-tui: {record.name} is not ready after {seconds:g} s; it keeps starting in the "
                         f"background (spark-tui logs {record.name}).\n")
    else:
        sys.stderr.write(f"spark-tui: {record.name} {status.state} (exit code {status.exit_code}); "
                         f"see spark-tui logs {record.name}.\n")
    return EXIT_UNKNOWN


def cmd_ps(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from spark_tui.engines.supervisor import Supervisor
    from spark_tui.rules import load_all_rules

    supervisor = Supervisor()
    rules = load_all_rules().rules
    records = supervisor.records()
    records += supervisor.external(records)
    with ThreadPoolExecutor(max_workers=max(1, len(records))) as pool:  # servers are looked at in parallel
        statuses = list(pool.map(lambda r: _status_with_rates(supervisor, r, rules), records))
    if args.json:
        print(json.dumps([s.to_json() for s in statuses], indent=2))
        return 0
    if not statuses:
        print("No servers. Start one with: spark-tui serve MODEL")
        return 0
    print(f"{'NAME':28} {'ENGINE':8} {'STATE':9} {'PORT':>5} {'UPTIME':>8} {'GEN TOK/S':>9} {'RUN/WAIT':>8} "
          f"{'KV':>5}  MODEL")
    for s in statuses:
        j = s.to_json()
        uptime = "-" if j["uptime_s"] is None else f"{int(j['uptime_s'] // 60)}m{int(j['uptime_s'] % 60):02d}s"
        tps = "-" if j["generation_tokens_per_s"] is None else f"{j['generation_tokens_per_s']:.1f}"
        run = "-" if j["requests_running"] is None else f"{j['requests_running']}/{_dash(j['requests_waiting'])}"
        kv = "-" if j["kv_cache_usage"] is None else f"{j['kv_cache_usage'] * 100:.0f}%"
        print(f"{s.record.name:28} {s.record.engine:8} {s.state:9} {s.record.port:>5} {uptime:>8} {tps:>9} "
              f"{run:>8} {kv:>5}  {s.record.model}")
        for node in j["nodes"]:  # across nodes: one line per node command
            print(f"{'':28} {_node_line(node)}")
        if s.state == "failed":
            known = "; ".join(f"[{d['rule']}] {d['title']}" for d in s.diagnosis[:2])
            print(f"{'':28} exit code {s.exit_code}; {known or 'see spark-tui logs ' + s.record.name}")
        elif s.state == "damaged":
            print(f"{'':28} pid {s.record.pid or 'unknown'}; {s.progress}")
    return 0


def _node_line(node: dict[str, Any]) -> str:
    """host, role, state, the node's free/total memory and GPU use ("-" where it is not known)."""
    gib = 1024**3
    avail, total = node["memory_available_bytes"], node["memory_total_bytes"]
    memory = f"{avail / gib:.0f}/{total / gib:.0f} GiB free" if avail is not None and total is not None else "-"
    gpu = "-" if node["gpu_utilization"] is None else f"{node['gpu_utilization'] * 100:.0f}%"
    return f"{node['host']:16} {node['role']:10} {node['state']:11} mem {memory:16} gpu {gpu}"


def _status_with_rates(supervisor: Any, record: Any, rules: list) -> Any:
    """A server's state, and for a ready one its metrics and tokens/s over the last minute of the shared history.
    With no recent sample to compare with, it samples again a second later (the only wait in `ps`)."""
    from spark_tui.metrics.scrape import known_rates

    status = supervisor.observe(record, rules)
    if status.state != "ready":
        return status
    history = supervisor.sample(record)
    if len(history) == 1 or (len(history) >= 2 and history[-1].t - history[-2].t > 60):
        time.sleep(1.0)
        history = supervisor.sample(record) or history
    if history:
        status.metrics = history[-1]
        status.generation_tokens_per_s, status.prompt_tokens_per_s = known_rates(history, window_s=60.0)
    return status


def _dash(value: Any) -> str:
    return "-" if value is None else str(value)


def cmd_logs(args: argparse.Namespace) -> int:
    from spark_tui.engines.supervisor import Supervisor

    validate.at_least_one(lines=args.lines)
    supervisor = Supervisor()
    record = supervisor.get(args.name)
    path = Path(record.log)
    try:
        with open(path, errors="replace") as fh:
            lines = fh.readlines()
            sys.stdout.writelines(lines[-args.lines:])
            sys.stdout.flush()
            while args.follow:
                line = fh.readline()
                if line:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                    continue
                if supervisor.observe(record).state in ("failed", "exited", "stopped"):
                    return 0
                time.sleep(0.2)
    except FileNotFoundError:
        raise UsageError(f"The log of {args.name} is gone ({path}).") from None
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from spark_tui.engines.supervisor import Supervisor

    status = Supervisor().stop(args.name)
    print(f"{args.name}: {status.state}" + (f" (exit code {status.exit_code})" if status.exit_code is not None else ""))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from spark_tui.engines.supervisor import Supervisor

    validate.at_least_one(concurrency=args.concurrency, requests=args.requests, prompt_tokens=args.prompt_tokens,
                          max_tokens=args.max_tokens)
    supervisor = Supervisor()
    result = supervisor.bench(args.name, requests=args.requests, concurrency=args.concurrency,
                              prompt_tokens=args.prompt_tokens, max_tokens=args.max_tokens, keep=False)
    _print_bench(result, args.json)
    supervisor.save_bench(supervisor.get(args.name, include_external=True), result.to_json())  # after: never lost
    return 0 if result.failed == 0 else EXIT_UNKNOWN


def _print_bench(result: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_json(), indent=2), flush=True)
        return
    print(f"{result.requests} requests, {result.concurrency} at a time, {result.failed} failed, "
          f"{result.wall_s:.1f} s")
    print(f"TTFT  p50 {result.ttft_ms['p50']:.0f} ms  p90 {result.ttft_ms['p90']:.0f} ms  "
          f"p99 {result.ttft_ms['p99']:.0f} ms")
    print(f"ITL   p50 {result.itl_ms['p50']:.1f} ms  p90 {result.itl_ms['p90']:.1f} ms  "
          f"p99 {result.itl_ms['p99']:.1f} ms")
    print(f"decode {result.per_stream_tokens_per_s:.1f} tok/s per stream, {result.output_tokens_per_s:.1f} tok/s "
          "aggregate")
    if result.percent_of_bound is not None:
        print(f"       {result.percent_of_bound:.0f} % of the {result.bound_tokens_per_s:.0f} tok/s bandwidth bound")
    sys.stdout.flush()


def add_parsers(sub: Any, add_planning: Any) -> None:
    serve = sub.add_parser("serve", help="launch a server for MODEL (vLLM, llama.cpp's llama-server or TensorRT-LLM's "
                           "trtllm-serve: --engine), detached (survives SSH drops)")
    serve.add_argument("model")
    serve.add_argument("--revision", metavar="R")
    add_planning(serve)
    serve.add_argument("--port", dest="port_text", default="8000", metavar="N|auto")
    serve.add_argument("--name", help="server name (default: from the model and port)")
    serve.add_argument("--runtime", choices=["auto", "local", "container"],
                       help="run the engine from a local executable or a container image (default: the setting, "
                       "else auto: a local executable, else an image of the engine docker has)")
    serve.add_argument("--executable", metavar="PATH", help="the engine's server executable (vllm, llama-server, "
                       "trtllm-serve; default: the setting, then PATH)")
    serve.add_argument("--vllm", metavar="PATH", help="the vllm executable (the same as --executable for vLLM)")
    serve.add_argument("--image", metavar="IMAGE", help="the container image (default: the setting, else the "
                       "newest image of the engine docker has: nvcr.io/nvidia/vllm, ghcr.io/ggml-org/llama.cpp, "
                       "nvcr.io/nvidia/tensorrt-llm/release)")
    serve.add_argument("--api-key", help="require this key from clients (pass it when listening beyond 127.0.0.1)")
    serve.add_argument("--wait", type=float, nargs="?", const=900.0, metavar="SECONDS",
                       help="wait until ready (default 900 s); non-zero exit with the diagnosis if it fails")
    serve.add_argument("--dry-run", action="store_true", help="print the command, launch nothing")
    serve.add_argument("--force", action="store_true", help="launch even when the verdict is incompatible")
    serve.add_argument("--offline", action="store_true")
    serve.add_argument("--refresh", action="store_true")

    ps = sub.add_parser("ps", help="servers spark-tui started: state, tok/s, KV use")
    ps.add_argument("--json", action="store_true")
    logs = sub.add_parser("logs", help="a server's log")
    logs.add_argument("name")
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("-n", "--lines", type=int, default=200)
    stop = sub.add_parser("stop", help="stop a server (SIGTERM to its group, then SIGKILL)")
    stop.add_argument("name")
    bench = sub.add_parser("bench", help="load a running server; TTFT, ITL, tok/s against the bandwidth bound")
    bench.add_argument("name")
    bench.add_argument("--concurrency", "-c", type=int, default=2)
    bench.add_argument("--requests", "-n", type=int, default=8)
    bench.add_argument("--prompt-tokens", type=int, default=64)
    bench.add_argument("--max-tokens", type=int, default=64)
    bench.add_argument("--json", action="store_true")
