"""The exact command line (argv + env) the advisor recommends. Never a shell string to execute:
argv lists only, 127.0.0.1 by default, --trust-remote-code only when the user asked for it."""

from __future__ import annotations

from spark_tui.advisor.types import LaunchPlan, MemoryPlan, PlanOptions
from spark_tui.hub.facts import ModelFacts
from spark_tui.rules.evaluate import Finding


def _rule_additions(findings: list[Finding]) -> tuple[list[str], dict[str, str]]:
    flags: list[str] = []
    env: dict[str, str] = {}
    for finding in findings:
        if finding.severity == "error":
            continue
        env.update(finding.launch_env)
        for flag in finding.launch_flags:
            if flag not in flags:
                flags.append(flag)
    return flags, env


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
    flags, env = _rule_additions(findings)
    argv += [f for f in flags if f not in argv]
    notes = []
    if memory is not None and memory.max_model_len_source == "reduced":
        notes.append(f"--max-model-len reduced from the model's {memory.model_max_context} to fit memory")
    return LaunchPlan("vllm", tuple(argv), env, tuple(notes))


def trtllm_plan(model: ModelFacts, options: PlanOptions, memory: MemoryPlan | None,
                findings: list[Finding]) -> LaunchPlan:
    argv = ["trtllm-serve", model.id, "--backend", "pytorch", "--host", options.host, "--port", str(options.port)]
    if memory is not None and memory.max_model_len:
        argv += ["--max_seq_len", str(memory.max_model_len)]
    if options.tensor_parallel_size > 1:
        argv += ["--tp_size", str(options.tensor_parallel_size)]
    argv += ["--kv_cache_free_gpu_memory_fraction", "0.8" if memory and memory.utilization_source == "recommended"
             else "0.9"]
    if options.trust_remote_code:
        argv.append("--trust_remote_code")
    flags, env = _rule_additions(findings)
    notes = ("MoE on SM12x: pass --extra_llm_api_options with moe_config: {backend: CUTLASS}",) if model.moe else ()
    return LaunchPlan("trtllm", tuple(argv + flags), env, notes)


def llamacpp_plan(model: ModelFacts, options: PlanOptions, memory: MemoryPlan | None,
                  findings: list[Finding]) -> LaunchPlan:
    gguf = model.gguf_files
    argv = ["llama-server"]
    if model.source == "local" and gguf:
        argv += ["-m", gguf[0][0]]
    elif gguf:
        best = next((f for f in gguf if f[1] == model.weights_bytes), gguf[0])
        argv += ["--hf-repo", model.id, "--hf-file", best[0]]
    else:
        argv += ["--hf-repo", model.id]
    argv += ["--host", options.host, "--port", str(options.port), "-ngl", "999"]
    if memory is not None and memory.max_model_len:
        argv += ["-c", str(memory.max_model_len)]
    flags, env = _rule_additions(findings)
    return LaunchPlan("llamacpp", tuple(argv + flags), env)


def launch_plan(model: ModelFacts, options: PlanOptions, memory: MemoryPlan | None,
                findings: list[Finding]) -> LaunchPlan:
    builder = {"vllm": vllm_plan, "trtllm": trtllm_plan, "llamacpp": llamacpp_plan}[options.engine]
    return builder(model, options, memory, findings)
