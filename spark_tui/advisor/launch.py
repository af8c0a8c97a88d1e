"""The exact command line (argv + env) the advisor recommends. Never a shell string to execute:
argv lists only, 127.0.0.1 by default, --trust-remote-code only when the user asked for it.
Rules may only add their engine's tuning knobs (spark_tui.rules.knobs), and each addition names its rule.
A setting the chosen engine version does not read (a vLLM variable removed in 0.24, a flag added in 0.17) is dropped
with a note naming the rule and the version: the plan never sets what the engine would ignore or reject."""

from __future__ import annotations

from typing import Any

from spark_tui.advisor.types import LaunchPlan, MemoryPlan, NodeCommand, PlanOptions, RuleSetting
from spark_tui.hub.facts import ModelFacts
from spark_tui.rules import knobs
from spark_tui.rules.evaluate import Finding


def _setting(rule: str, tokens: tuple[str, ...]) -> RuleSetting:
    if len(tokens) == 2:
        return RuleSetting(rule, "flag", tokens[0], tokens[1])
    name, sep, value = tokens[0].partition("=") if tokens[0].startswith("--") else (tokens[0], "", "")
    return RuleSetting(rule, "flag", name, value if sep else None)


def _dropped_note(rule: str, engine: str, version: str | None, text: str, honoured: str) -> str:
    which = f"{engine} {version} does not read it" if version else f"the {engine} version is unknown"
    return f"dropped from rule {rule}: {text} ({which}; only {engine} {honoured} does)"


def _rule_additions(engine: str, argv: list[str], findings: list[Finding], version: str | None = None,
                    ) -> tuple[list[str], dict[str, str], tuple[RuleSetting, ...], tuple[str, ...]]:
    """The flags and variables the findings' rules suggest, minus anything the plan already sets, and notes for
    those the engine version would ignore."""
    present = set(argv)
    flags: list[str] = []
    env: dict[str, str] = {}
    added: list[RuleSetting] = []
    dropped: list[str] = []
    for finding in findings:
        if finding.severity == "error":
            continue
        # The loader already refuses disallowed settings; checked again so no other path can inject one.
        for name, value in finding.launch_env.items():
            if name in env or knobs.env_problem(engine, name, value) is not None:
                continue
            honoured = knobs.env_honoured(engine, name)
            if honoured and knobs.not_read_by(version, honoured):
                dropped.append(_dropped_note(finding.rule, engine, version, f"{name}={value}", honoured))
                continue
            env[name] = value
            added.append(RuleSetting(finding.rule, "env", name, value))
        groups, error = knobs.flag_groups(engine, finding.launch_flags)
        if error:
            continue
        for knob, tokens in groups:
            if present & set(knob.names):
                continue  # the plan's own value (or an earlier rule's) stands
            honoured = knobs.flag_honoured(knob, tokens)
            if honoured and knobs.not_read_by(version, honoured):
                dropped.append(_dropped_note(finding.rule, engine, version, " ".join(tokens), honoured))
                continue
            present.update(knob.names)
            flags += tokens
            added.append(_setting(finding.rule, tokens))
    return flags, env, tuple(added), tuple(dropped)


def _origin_notes(added: tuple[RuleSetting, ...]) -> tuple[str, ...]:
    """One note per rule, e.g. "added by rule X: VLLM_Y=1 --enforce-eager"; every display shows notes."""
    by_rule: dict[str, list[str]] = {}
    for s in added:
        text = f"{s.name}={s.value}" if s.kind == "env" else s.name if s.value is None else f"{s.name} {s.value}"
        by_rule.setdefault(s.rule, []).append(text)
    return tuple(f"added by rule {rule}: {' '.join(parts)}" for rule, parts in by_rule.items())


def _where(model: ModelFacts, options: PlanOptions) -> dict[str, Any]:
    """The plan's fields besides its command: the same values the command carries, as fields."""
    return {"model": model.id, "host": options.host, "port": options.port, "engine_version": options.engine_version}


def vllm_plan(model: ModelFacts, options: PlanOptions, memory: MemoryPlan | None,
              findings: list[Finding]) -> LaunchPlan:
    argv = ["vllm", "serve", model.id, "--host", options.host, "--port", str(options.port)]
    if options.revision and model.source == "hub":
        argv += ["--revision", options.revision]
    if memory is not None:
        argv += ["--gpu-memory-utilization", f"{memory.gpu_memory_utilization:g}"]
        if memory.max_model_len:
            argv += ["--max-model-len", str(memory.max_model_len)]
    elif options.gpu_memory_utilization is not None:
        argv += ["--gpu-memory-utilization", f"{options.gpu_memory_utilization:g}"]
    if options.tensor_parallel_size > 1:
        argv += ["--tensor-parallel-size", str(options.tensor_parallel_size)]
    if options.pipeline_parallel_size > 1:
        argv += ["--pipeline-parallel-size", str(options.pipeline_parallel_size)]
    if options.kv_cache_dtype != "auto":
        argv += ["--kv-cache-dtype", options.kv_cache_dtype]
    if options.max_num_batched_tokens:
        argv += ["--max-num-batched-tokens", str(options.max_num_batched_tokens)]
    if options.max_num_seqs:
        argv += ["--max-num-seqs", str(options.max_num_seqs)]
    if options.enforce_eager:
        argv.append("--enforce-eager")
    if options.trust_remote_code:
        argv.append("--trust-remote-code")
    flags, env, added, dropped = _rule_additions("vllm", argv, findings, options.engine_version)
    notes = []
    if memory is not None and memory.max_model_len_source == "reduced":
        notes.append(f"--max-model-len reduced from the model's {memory.model_max_context} to fit memory")
    nodes: tuple[NodeCommand, ...] = ()
    if options.cluster is not None and len(options.cluster.hosts) > 1:
        from spark_tui.advisor.multinode import tp_problem, vllm_node_commands

        mode = options.distributed or "mp"
        nodes = vllm_node_commands(tuple(argv + flags), env, options.cluster, mode)
        notes.append(f"across {len(options.cluster.hosts)} nodes with "
                     + ("vLLM's own multi-node engine (--nnodes, no Ray)" if mode == "mp" else "a Ray cluster"))
        if options.pipeline_parallel_size > 1:
            problem = tp_problem(model, options.tensor_parallel_size * options.pipeline_parallel_size)
            notes.append("a pipeline stage per node" + (f" ({model.id.rsplit('/', 1)[-1]}: {problem})" if problem
                                                        else ""))
        if not options.cluster.known and options.cluster.interface in (None, "CX7_IF"):
            notes.append("the nodes are placeholders: define [cluster] (spark-tui cluster check) to fill them in")
        elif not options.cluster.known:
            notes.append(f"some node addresses are placeholders: each is read from the node's "
                         f"{options.cluster.interface} when it answers over SSH (spark-tui cluster check)")
    return LaunchPlan("vllm", tuple(argv + flags), env, tuple(notes) + _origin_notes(added) + dropped, added,
                      **_where(model, options), nodes=nodes)


# trtllm-serve's options by release (tensorrt_llm/commands/serve.py, docs/source/release-notes.md): PyTorch became its
# default backend in 1.0 (before, `--backend pytorch` chose it); a YAML of extra LLM-API options exists from 0.20.0
# (`--extra_llm_api_options`); from 1.0 the PyTorch options are top-level LLM args (enable_iter_perf_stats,
# moe_config); return_perf_metrics (which mounts /prometheus/metrics, PR #5785) is in 1.1.0rc5 (ai-dynamo/dynamo's
# TensorRT-LLM metrics page) and every later release. An unknown version is taken as the newest (the default image).
_TRT_NEEDS_BACKEND = "<1.0"
_TRT_YAML = ">=0.20"
_TRT_TOP_LEVEL_ARGS = ">=1.0"
_TRT_PERF_METRICS = ">=1.1.0rc5"
TRT_OPTIONS_FILE = "llm-api-options.yml"  # written into the server's own folder at launch (engines/plan_files.py)
_TRT_MOE_RULE = "trtllm-sm12x-trtllmgen-moe"  # fires for a MoE on SM12x: the CUTLASS MoE backend is the one there


def _trt_holds(spec: str, version: str | None, unknown: bool) -> bool:
    from spark_tui.rules.evaluate import version_holds

    if version is None:
        return unknown
    return version_holds(spec, version) is True


def _trtllm_options(version: str | None, findings: list[Finding]) -> tuple[str, list[str]]:
    """The extra LLM-API options YAML (empty when the version reads none of it) and a note per setting: iteration
    stats for /metrics, Prometheus metrics, and the CUTLASS MoE backend on SM12x."""
    if not _trt_holds(_TRT_YAML, version, True) or not _trt_holds(_TRT_TOP_LEVEL_ARGS, version, True):
        return "", []
    lines = ["enable_iter_perf_stats: true"]  # /metrics (and the Prometheus gauges) carry iteration stats only then
    if _trt_holds(_TRT_PERF_METRICS, version, True):
        lines.append("return_perf_metrics: true")  # mounts /prometheus/metrics: token counters, TTFT
    notes = []
    if any(f.rule == _TRT_MOE_RULE and f.severity != "error" for f in findings):
        lines += ["moe_config:", "  backend: CUTLASS"]
        notes.append(f"moe_config backend CUTLASS in the LLM-API options: rule {_TRT_MOE_RULE} (TRTLLM-Gen MoE has "
                     "no SM12x kernels)")
    return "\n".join(lines) + "\n", notes


def trtllm_plan(model: ModelFacts, options: PlanOptions, memory: MemoryPlan | None,
                findings: list[Finding]) -> LaunchPlan:
    version = options.engine_version
    argv = ["trtllm-serve", model.id]
    if _trt_holds(_TRT_NEEDS_BACKEND, version, False):
        argv += ["--backend", "pytorch"]  # before 1.0 the default was the TensorRT engine path
    argv += ["--host", options.host, "--port", str(options.port)]
    batch = memory.max_num_seqs if memory is not None else options.max_num_seqs
    if batch:
        argv += ["--max_batch_size", str(batch)]
    if memory is not None and memory.max_model_len:
        argv += ["--max_seq_len", str(memory.max_model_len)]
    elif options.max_model_len:
        argv += ["--max_seq_len", str(options.max_model_len)]
    if options.max_num_batched_tokens:
        argv += ["--max_num_tokens", str(options.max_num_batched_tokens)]
    if options.tensor_parallel_size > 1:
        argv += ["--tp_size", str(options.tensor_parallel_size)]
    # TRT-LLM's own default is 0.9 of the memory free after its profiling peak; on unified memory (the plan's
    # recommended utilization) 0.8, as NVIDIA's DGX Spark playbook sets for its larger models.
    argv += ["--kv_cache_free_gpu_memory_fraction", "0.8" if memory and memory.utilization_source == "recommended"
             else "0.9"]
    if options.trust_remote_code:
        argv.append("--trust_remote_code")
    yaml, yaml_notes = _trtllm_options(version, findings)
    files = {}
    if yaml:
        argv += ["--extra_llm_api_options", TRT_OPTIONS_FILE]  # its path in the server's folder at launch
        files[TRT_OPTIONS_FILE] = yaml
    flags, env, added, dropped = _rule_additions("trtllm", argv, findings, version)
    return LaunchPlan("trtllm", tuple(argv + flags), env, tuple(yaml_notes) + _origin_notes(added) + dropped, added,
                      files=files, **_where(model, options))


def llamacpp_plan(model: ModelFacts, options: PlanOptions, memory: MemoryPlan | None,
                  findings: list[Finding]) -> LaunchPlan:
    """llama-server for the planned GGUF variant, with the plan's context and slots.

    Flags (tools/server, common/arg.cpp at b10573): `-ngl 999` puts every layer on the GPU on every build (`all`
    exists only in recent ones; 999 has been the library default since b6325); `-c` the planned context; `-np` only
    when the plan's slots are not llama-server's default (-np auto = 4 unified slots); `-ctk/-ctv` for a quantized
    KV cache; `--metrics` because spark-tui watches /metrics, which llama-server serves only with it. `--jinja` is
    not added: chat templates are on by default (common/common.h use_jinja = true)."""
    gguf = model.gguf_files
    argv = ["llama-server"]
    choice = model.gguf_choice
    if model.source == "local" and (choice or gguf):
        argv += ["-m", choice or gguf[0][0]]
    elif choice:
        argv += ["--hf-repo", model.id, "--hf-file", choice]
    elif gguf:
        best = next((f for f in gguf if f[1] == model.weights_bytes), gguf[0])
        argv += ["--hf-repo", model.id, "--hf-file", best[0]]
    else:
        argv += ["--hf-repo", model.id]
    argv += ["--host", options.host, "--port", str(options.port), "-ngl", "999"]
    detail = memory.llamacpp if memory is not None else None
    if memory is not None and memory.max_model_len:
        argv += ["-c", str(memory.max_model_len)]
    if detail is not None and not detail.default_parallel:
        argv += ["-np", str(detail.n_parallel)]
    if detail is not None and detail.cache_type_k != "f16":
        argv += ["-ctk", detail.cache_type_k]
    if detail is not None and detail.cache_type_v != "f16":
        argv += ["-ctv", detail.cache_type_v]
    argv.append("--metrics")
    flags, env, added, dropped = _rule_additions("llamacpp", argv, findings, options.engine_version)
    notes = []
    if memory is not None and memory.max_model_len_source == "reduced" and memory.max_model_len:
        notes.append(f"-c reduced from the model's {memory.model_max_context} to fit memory")
    return LaunchPlan("llamacpp", tuple(argv + flags), env, tuple(notes) + _origin_notes(added) + dropped, added,
                      **_where(model, options))


def launch_plan(model: ModelFacts, options: PlanOptions, memory: MemoryPlan | None,
                findings: list[Finding]) -> LaunchPlan:
    builder = {"vllm": vllm_plan, "trtllm": trtllm_plan, "llamacpp": llamacpp_plan}[options.engine]
    return builder(model, options, memory, findings)
