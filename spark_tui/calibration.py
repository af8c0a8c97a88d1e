"""Calibration's store: what real launches printed at start-up, next to what was predicted.

The store lives under <state>/calibration/:
  launches/<server>.json  written when spark-tui starts a server: the setup (model, revision, engine and version,
                          hardware, every option that changes memory), the plan's figures, and where the launch's
                          output starts in its log. Settled once the log shows the server started or failed for
                          memory (or the server ended): the figures it printed are added.
  observations.jsonl      one observation a line, oldest first, at most MAX_OBSERVATIONS; rewritten atomically under
                          a lock; a damaged line is skipped (and dropped at the next write), never a traceback.

How a plan uses them is the advisor's (spark_tui/advisor/observed.py, pure functions of plain data); this module
writes and reads the store, and reads a launch's log for its figures.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spark_tui.advisor.observed import (  # the pure half: the setup a plan is for, and how a plan uses it
    FIGURES,
    OPTION_TYPES,
    OUTCOMES,
    Observation,
    calibrate,
    corrected_plan,
    launch_options,
    observed_finding,
    observed_plan,
    setup_key,
)

MAX_OBSERVATIONS = 500
MAX_LINE = 16 * 1024  # a longer line is not one of ours: skipped
MAX_LOG_READ = 4 * 1024**2  # start-up output of one launch; a launch's log past this is not read for figures
GIB = 1024**3
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
    from spark_tui.engines.vllm import startup_figures  # the only engine whose figures are read

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


def kv_line(launch: dict[str, Any] | None) -> tuple[int | None, int | None]:
    """(predicted, observed) KV tokens of a server's launch, for `ps` and the Servers screen."""
    if not launch:
        return None, None
    predicted = (launch.get("predicted") or {}).get("kv_cache_tokens")
    observed = (launch.get("observed") or {}).get("kv_cache_tokens")
    ok = lambda v: v if isinstance(v, int) and not isinstance(v, bool) else None  # noqa: E731
    return ok(predicted), ok(observed)


__all__ = ["FIGURES", "OPTION_TYPES", "OUTCOMES", "Observation", "add", "calibrate", "corrected_plan", "for_model",
           "launch_options", "load", "note_launch", "observed_finding", "observed_plan", "prediction", "settle",
           "setup_key"]
