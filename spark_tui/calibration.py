"""Calibration: what real launches printed at start-up, next to what was predicted, and how a later plan uses it.

The store lives under <state>/calibration/:
  launches/<server>.json  written when spark-tui starts a server: the setup (model, revision, engine and version,
                          hardware, every option that changes memory), the plan's figures, and where the launch's
                          output starts in its log. Settled once the log shows the server started or failed for
                          memory (or the server ended): the figures it printed are added.
  observations.jsonl      one observation a line, oldest first, at most MAX_OBSERVATIONS; rewritten atomically under
                          a lock; a damaged line is skipped (and dropped at the next write), never a traceback.

A plan uses the newest observation of the same setup (`calibrate`): with the same options it *is* the observation
("observed on this machine"); with other options the plan is corrected by what was measured. The matching and the
correction are pure functions of plain data (the advisor calls them; the CLI and the app read the store).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the advisor's types are imported where a plan is made, not by `ps`
    from spark_tui.advisor.types import MemoryPlan

MAX_OBSERVATIONS = 500
MAX_LINE = 16 * 1024  # a longer line is not one of ours: skipped
MAX_LOG_READ = 4 * 1024**2  # start-up output of one launch; a launch's log past this is not read for figures
GIB = 1024**3
OUTCOMES = ("started", "refused_kv", "oom")
OPTION_TYPES: dict[str, type] = {"tensor_parallel_size": int, "gpu_memory_utilization": float, "max_model_len": int,
                                 "max_num_seqs": int, "max_num_batched_tokens": int, "kv_cache_dtype": str,
                                 "enforce_eager": bool}
_FLAGS = {"--tensor-parallel-size": "tensor_parallel_size", "-tp": "tensor_parallel_size",
          "--gpu-memory-utilization": "gpu_memory_utilization", "--max-model-len": "max_model_len",
          "--max-num-seqs": "max_num_seqs", "--max-num-batched-tokens": "max_num_batched_tokens",
          "--kv-cache-dtype": "kv_cache_dtype"}
FIGURES = ("kv_cache_tokens", "kv_cache_bytes", "weights_bytes")


@dataclass(frozen=True)
class Observation:
    """One launch: its setup, what the plan predicted, what vLLM printed, and how it ended."""

    model: str
    revision: str | None
    engine: str
    engine_version: str | None
    hardware: dict[str, Any]  # name, memory_bytes (per GPU)
    options: dict[str, Any]  # OPTION_TYPES
    predicted: dict[str, int | None]  # FIGURES + overhead_bytes, budget_bytes
    observed: dict[str, Any]  # FIGURES + cudagraph_bytes, max_model_len_fit, engine_version (as logged)
    outcome: str  # OUTCOMES
    at: str  # ISO time of the launch
    server: str

    @property
    def error_pct(self) -> float | None:
        """How far the predicted KV tokens were from the observed ones, in % of the observed (signed)."""
        p, o = self.predicted.get("kv_cache_tokens"), self.observed.get("kv_cache_tokens")
        return None if not p or not o else round((p - o) / o * 100, 1)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "predicted": {k: self.predicted.get(k) for k in FIGURES},
                "observed": {k: self.observed.get(k) for k in FIGURES}, "error_pct": self.error_pct}

    def stored(self) -> dict[str, Any]:
        return asdict(self)


# --- the setup a plan (or a launch) is for ---

def launch_options(argv: list[str] | tuple[str, ...], memory: MemoryPlan) -> dict[str, Any]:
    """The options that change memory, as the engine gets them: from the launch's argv (what the user or a rule
    put there), else the plan's values (which are vLLM's defaults for this machine)."""
    options: dict[str, Any] = {
        "tensor_parallel_size": 1, "gpu_memory_utilization": memory.gpu_memory_utilization,
        "max_model_len": memory.max_model_len, "max_num_seqs": memory.max_num_seqs,
        "max_num_batched_tokens": memory.max_num_batched_tokens, "kv_cache_dtype": "auto", "enforce_eager": False}
    words = list(argv)
    for i, word in enumerate(words):
        flag, eq, value = word.partition("=")
        flag = flag.replace("_", "-") if flag.startswith("--") else flag
        if flag == "--enforce-eager":
            options["enforce_eager"] = True
        elif flag in _FLAGS and (eq or i + 1 < len(words)):
            key = _FLAGS[flag]
            with contextlib.suppress(ValueError):
                options[key] = OPTION_TYPES[key](value if eq else words[i + 1])
    return options


def setup_key(model_id: str, revision: str | None, engine: str, engine_version: str | None, hardware: Any,
              argv: list[str] | tuple[str, ...], memory: MemoryPlan) -> dict[str, Any]:
    return {"model": model_id, "revision": revision, "engine": engine, "engine_version": engine_version,
            "hardware": {"name": hardware.name, "memory_bytes": hardware.memory_bytes},
            "options": launch_options(argv, memory)}


def prediction(advice: Any, argv: list[str] | tuple[str, ...]) -> dict[str, Any] | None:
    """What a launch of `argv` from `advice` is expected to take: written with the launch, settled later."""
    memory = advice.memory
    if advice.engine != "vllm" or memory is None:
        return None
    planned = memory.planned or memory  # the model's own figures, not an earlier observation's
    key = setup_key(advice.model.id, advice.model.revision, advice.engine, advice.engine_version, advice.hardware,
                    argv, memory)
    return {**key, "predicted": {"kv_cache_tokens": planned.kv_cache_tokens, "kv_cache_bytes": planned.kv_cache_bytes,
                                 "weights_bytes": planned.weights_bytes, "overhead_bytes": planned.overhead_bytes,
                                 "budget_bytes": planned.budget_bytes}}


# --- the store ---

def _folder(root: Path | None) -> Path:
    from spark_tui.paths import state_dir

    return (root or state_dir()) / "calibration"


def _from_json(raw: Any) -> Observation | None:
    """A stored observation with every field of the right type, else None (a damaged line)."""
    if not isinstance(raw, dict):
        return None
    try:
        obs = Observation(**{k: raw[k] for k in Observation.__dataclass_fields__})
    except (KeyError, TypeError):
        return None

    def number(value: Any) -> bool:
        return value is None or (isinstance(value, int | float) and not isinstance(value, bool))

    opts = obs.options
    ok = (isinstance(obs.model, str) and isinstance(obs.engine, str) and isinstance(obs.server, str)
          and isinstance(obs.at, str) and obs.outcome in OUTCOMES
          and all(isinstance(v, str | type(None)) for v in (obs.revision, obs.engine_version))
          and isinstance(obs.hardware, dict) and isinstance(obs.hardware.get("name"), str)
          and number(obs.hardware.get("memory_bytes"))
          and isinstance(opts, dict) and set(opts) == set(OPTION_TYPES)
          and all(opts[k] is None or isinstance(opts[k], t if t is not float else (int, float))
                  for k, t in OPTION_TYPES.items())
          and isinstance(obs.predicted, dict) and isinstance(obs.observed, dict)
          and all(number(obs.predicted.get(k)) and number(obs.observed.get(k)) for k in FIGURES))
    return obs if ok else None


def load(root: Path | None = None) -> list[Observation]:
    """Every readable observation, oldest first (damaged lines skipped)."""
    path = _folder(root) / "observations.jsonl"
    try:
        with open(path, errors="replace") as fh:
            lines = fh.readlines()
    except OSError:
        return []
    found = []
    for line in lines:
        if len(line) > MAX_LINE:
            continue
        try:
            obs = _from_json(json.loads(line))
        except ValueError:
            continue
        if obs is not None:
            found.append(obs)
    return found


def add(observation: Observation, root: Path | None = None) -> None:
    """Append under the lock; the whole file is rewritten atomically (old or new, never half) and bounded."""
    from spark_tui.files import locked, write_text_atomic

    folder = _folder(root)
    with locked(folder / ".lock"):
        kept = [*load(root), observation][-MAX_OBSERVATIONS:]
        write_text_atomic(folder / "observations.jsonl", "".join(json.dumps(o.stored()) + "\n" for o in kept))


def note_launch(root: Path, name: str, predicted: dict[str, Any], log: Path, offset: int, at: float) -> None:
    """Remember a launch's setup and prediction until its log says how it went (see `settle`)."""
    from spark_tui.files import write_json_atomic

    write_json_atomic(_folder(root) / "launches" / f"{name}.json",
                      {**predicted, "server": name, "log": str(log), "log_offset": offset, "launched_at": at,
                       "settled": False})


def launch_of(root: Path | None, name: str) -> dict[str, Any] | None:
    try:
        data = json.loads((_folder(root) / "launches" / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def settle(root: Path | None = None, names: list[str] | None = None) -> list[Observation]:
    """Turn launches whose logs now say how they went into observations (each once). A launch still starting is
    left for later; one that ended for another reason is settled with no observation. Never raises: calibration is
    worth having, never worth failing a `check` or a screen for."""
    from spark_tui.errors import SparkTuiError
    from spark_tui.files import locked, write_json_atomic

    folder = _folder(root)
    added: list[Observation] = []
    try:
        paths = sorted((folder / "launches").glob("*.json"))
        if names is not None:
            paths = [p for p in paths if p.stem in names]
        if not paths:
            return added
        with locked(folder / ".lock"):
            for path in paths:
                launch = launch_of(root, path.stem)
                if launch is None or launch.get("settled"):
                    continue
                figures = _log_figures(launch)
                ended = (folder.parent / "exits" / f"{path.stem}.json").exists()
                if figures["outcome"] is None and not ended:
                    continue
                observation = _observation(launch, figures) if figures["outcome"] else None
                if observation is not None:
                    added.append(observation)
                write_json_atomic(path, {**launch, "settled": True, "observed": figures})
        for observation in added:
            add(observation, root)
    except (OSError, SparkTuiError):
        pass
    return added


def _log_figures(launch: dict[str, Any]) -> dict[str, Any]:
    from spark_tui.engines.logs import startup_figures

    try:
        with open(str(launch.get("log", "")), "rb") as fh:
            fh.seek(int(launch.get("log_offset") or 0))
            lines = fh.read(MAX_LOG_READ).decode(errors="replace").splitlines()
    except (OSError, ValueError):
        lines = []
    return startup_figures(lines)


def _observation(launch: dict[str, Any], figures: dict[str, Any]) -> Observation | None:
    at = launch.get("launched_at")
    stamp = datetime.fromtimestamp(at if isinstance(at, int | float) else 0, tz=UTC)
    raw = {**launch, "observed": {**{k: figures.get(k) for k in FIGURES}, "cudagraph_bytes": figures["cudagraph_bytes"],
                                  "max_model_len_fit": figures["max_model_len_fit"],
                                  "engine_version": figures["version"] or launch.get("engine_version")},
           "outcome": figures["outcome"], "at": stamp.isoformat(timespec="seconds")}
    return _from_json(raw)


def for_model(model_id: str, root: Path | None = None) -> list[Observation]:
    """The observations a plan for `model_id` may use (pending launches settled first)."""
    settle(root)
    return [o for o in load(root) if o.model == model_id]


# --- how a plan uses them (pure) ---

def calibrate(memory: MemoryPlan, key: dict[str, Any], observations: list[Observation] | tuple[Observation, ...]
              ) -> MemoryPlan:
    """The plan for `key`, given what launches of the same model, revision, engine version and hardware showed:
    the newest one with the same options replaces it; else the newest with printed figures corrects it."""
    same = [o for o in observations if all(getattr(o, f) == key[f] for f in
                                           ("model", "revision", "engine", "engine_version", "hardware"))]
    exact = [o for o in same if o.options == key["options"]]
    if exact:
        return observed_plan(memory, exact[-1])
    usable = [o for o in same if o.observed.get("weights_bytes") and o.observed.get("kv_cache_bytes") is not None
              and (o.predicted.get("weights_bytes") or 0) > 0 and (o.predicted.get("overhead_bytes") or 0) > 0
              and o.predicted.get("budget_bytes")]
    return corrected_plan(memory, usable[-1], key["options"]) if usable else memory


def _date(obs: Observation) -> str:
    return obs.at[:10]


def observed_plan(memory: MemoryPlan, obs: Observation) -> MemoryPlan:
    """The same setup already ran here: what it printed is the plan (and "does not fit" if it was refused)."""
    from spark_tui.advisor.types import ObservedMemory

    o = obs.observed
    started = obs.outcome == "started"
    weights = o.get("weights_bytes")
    kv_bytes = o.get("kv_cache_bytes")
    overhead = memory.budget_bytes - weights - kv_bytes if weights is not None and kv_bytes is not None \
        else memory.overhead_bytes
    how = {"started": "started", "refused_kv": "was refused: its KV cache was too small",
           "oom": "ran out of memory"}[obs.outcome]
    note = (f"observed on this machine on {_date(obs)}: server {obs.server} (vLLM {o.get('engine_version') or '?'}) "
            f"with these options {how}")
    return replace(
        memory, source="observed", planned=memory.planned or memory,
        weights_bytes=memory.weights_bytes if weights is None else int(weights),
        kv_cache_bytes=memory.kv_cache_bytes if kv_bytes is None else max(0, int(kv_bytes)),
        overhead_bytes=int(overhead), kv_cache_tokens=o.get("kv_cache_tokens"),
        cudagraph_bytes=memory.cudagraph_bytes if o.get("cudagraph_bytes") is None else int(o["cudagraph_bytes"]),
        max_model_len_fit=o.get("max_model_len_fit") or memory.max_model_len_fit,
        weights_fit=started or weights is not None or obs.outcome == "refused_kv", fits=started,
        # What vLLM printed is no estimate: no spread around it, and nothing "tight" about a setup that ran.
        kv_cache_tokens_range=None if o.get("kv_cache_tokens") is None else (o["kv_cache_tokens"],) * 2,
        tight=False, max_model_len_safe=(o.get("max_model_len_fit") or memory.max_model_len_fit) if started else None,
        assumptions=(*memory.assumptions, note),
        observed=ObservedMemory(outcome=obs.outcome, kv_cache_tokens=o.get("kv_cache_tokens"),
                                kv_cache_bytes=kv_bytes, weights_bytes=weights,
                                cudagraph_bytes=o.get("cudagraph_bytes"), engine_version=o.get("engine_version"),
                                at=obs.at, server=obs.server))


def corrected_plan(memory: MemoryPlan, obs: Observation, options: dict[str, Any] | None = None) -> MemoryPlan:
    """Other options, same model, engine and hardware: correct the plan by what that launch measured.

    Measured engine overhead = requested budget − weights − available KV (everything that is not weights or KV:
    activation peak, non-torch memory, CUDA graphs). The model's error is taken as proportional to what it models:
    the overhead here = modelled overhead × (measured / modelled at the observed options), and the weights likewise
    (the same checkpoint loads the same way; only its split over GPUs changes). The KV cache is what is left, and
    tokens, blocks and the longest context that fits scale with it (exact for full attention; close for
    sliding-window models, whose per-request need is not linear in the context)."""
    p, o = obs.predicted, obs.observed
    measured_overhead = int(p["budget_bytes"] or 0) - int(o["weights_bytes"]) - int(o["kv_cache_bytes"])
    if measured_overhead <= 0:
        return memory  # figures that contradict each other teach nothing
    weights = round(memory.weights_bytes * o["weights_bytes"] / (p["weights_bytes"] or 1))
    overhead = round(memory.overhead_bytes * measured_overhead / (p["overhead_bytes"] or 1))
    kv_bytes = max(0, memory.budget_bytes - weights - overhead)
    scale = kv_bytes / memory.kv_cache_bytes if memory.kv_cache_bytes > 0 else None
    if scale is not None:
        tokens = None if memory.kv_cache_tokens is None else int(memory.kv_cache_tokens * scale)
        blocks = int(memory.num_blocks * scale)
    else:  # the plan left nothing for the KV cache: count tokens from bytes (full attention)
        tokens = kv_bytes // memory.kv_bytes_per_token if memory.kv_bytes_per_token else None
        blocks = kv_bytes // (memory.kv_bytes_per_token * memory.block_size) if memory.kv_bytes_per_token else 0
    # One request of max_model_len fits while the KV cache holds that many tokens (for sliding-window models vLLM
    # reports concurrency × max_model_len, so the same test holds); the longest context scales with the cache,
    # unless the model's own limit capped it.
    fit = memory.max_model_len_fit
    if fit is not None and tokens is not None:
        if memory.model_max_context is not None and fit >= memory.model_max_context:  # the model's limit, not memory
            fit = fit if tokens >= fit else tokens
        else:
            fit = int(fit * scale) if scale is not None else tokens
            fit = min(fit, memory.model_max_context or fit)
    weights_fit = weights + overhead < memory.budget_bytes
    fits = memory.fits
    if fits is not None and memory.max_model_len:
        fits = weights_fit and tokens is not None and tokens >= memory.max_model_len
    # The corrected figure keeps the table's spread (a measurement at other options is not one at these), moved with
    # the cache; "tight" and the safe length follow it as in the plan.
    low_high = memory.kv_cache_tokens_range
    if low_high is not None and scale is not None:
        low_high = (int(low_high[0] * scale), int(low_high[1] * scale))
    safe = memory.max_model_len_safe
    if safe is not None and scale is not None:
        safe = min(int(safe * scale), memory.model_max_context or int(safe * scale))
    tight = bool(fits) and safe is not None and memory.max_model_len is not None and memory.max_model_len > safe
    changed = ", ".join(f"{k.replace('_', '-')} {v}" for k, v in obs.options.items() if v != (options or {}).get(k))
    note = (f"corrected by server {obs.server} on this machine on {_date(obs)} (it had {changed or 'other options'}): "
            f"engine overhead {memory.overhead_bytes / GIB:.2f} → {overhead / GIB:.2f} GiB, weights "
            f"{memory.weights_bytes / GIB:.2f} → {weights / GIB:.2f} GiB, KV cache "
            f"{memory.kv_cache_bytes / GIB:.2f} → {kv_bytes / GIB:.2f} GiB")
    return replace(memory, planned=memory.planned or memory, weights_bytes=weights, overhead_bytes=overhead,
                   kv_cache_bytes=kv_bytes, kv_cache_tokens=tokens, num_blocks=blocks, max_model_len_fit=fit,
                   weights_fit=weights_fit, fits=fits, kv_cache_tokens_range=low_high, tight=tight,
                   max_model_len_safe=safe, assumptions=(*memory.assumptions, note))


def observed_finding(memory: MemoryPlan) -> Any:
    """An error finding when this very setup failed for memory here: the verdict says it did not fit."""
    from spark_tui.rules.evaluate import Finding

    o = memory.observed
    if o is None or o.outcome == "started":
        return None
    why = "its KV cache was too small for one request" if o.outcome == "refused_kv" else "it ran out of memory"
    return Finding(
        rule="observed-does-not-fit", severity="error",
        title=f"Did not fit here: server {o.server} with these options failed to start on {o.at[:10]} ({why})",
        detail=f"vLLM {o.engine_version or '?'} was started by spark-tui with the same model, revision, hardware "
               f"and memory options, and refused to start: {why}.",
        fix="Lower --max-model-len or --max-num-seqs, use --kv-cache-dtype fp8, or raise --gpu-memory-utilization; "
            "spark-tui calibration ls lists what launches printed.",
        references=(), status="by-design", fixed_in=None, launch_env={}, launch_flags=())


def kv_line(launch: dict[str, Any] | None) -> tuple[int | None, int | None]:
    """(predicted, observed) KV tokens of a server's launch, for `ps` and the Servers screen."""
    if not launch:
        return None, None
    predicted = (launch.get("predicted") or {}).get("kv_cache_tokens")
    observed = (launch.get("observed") or {}).get("kv_cache_tokens")
    ok = lambda v: v if isinstance(v, int) and not isinstance(v, bool) else None  # noqa: E731
    return ok(predicted), ok(observed)


__all__ = ["Observation", "add", "calibrate", "for_model", "launch_options", "load", "note_launch", "prediction",
           "settle", "setup_key"]
