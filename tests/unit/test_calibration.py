"""The calibration store, reading start-up figures from a log, matching a plan to observations, and the correction
arithmetic (spark_tui/calibration.py, spark_tui/engines/vllm.py:startup_figures)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from spark_tui import calibration
from spark_tui.advisor.types import MemoryPlan
from spark_tui.calibration import Observation, calibrate, corrected_plan, launch_options
from spark_tui.engines.vllm import startup_figures

GIB = 1024**3
OPTIONS = {"tensor_parallel_size": 1, "gpu_memory_utilization": 0.9, "max_model_len": 32768, "max_num_seqs": 256,
           "max_num_batched_tokens": 2048, "kv_cache_dtype": "auto", "enforce_eager": False}
HARDWARE = {"name": "h100", "memory_bytes": 80 * GIB}


def plan(**changes) -> MemoryPlan:
    """A plan with round numbers: 72 GiB budget = 10 GiB weights + 2 GiB overhead + 60 GiB KV (1 MiB a token)."""
    base = MemoryPlan(
        total_bytes=80 * GIB, gpu_memory_utilization=0.9, utilization_source="given", budget_bytes=72 * GIB,
        weights_bytes=10 * GIB, activation_bytes=GIB, non_torch_bytes=GIB, cudagraph_bytes=0,
        overhead_bytes=2 * GIB, kv_cache_bytes=60 * GIB, kv_bytes_per_token=1024**2, kv_cache_dtype="auto",
        block_size=16, num_blocks=3840, kv_cache_tokens=61440, max_model_len=32768, max_model_len_fit=61440,
        max_model_len_source="given", model_max_context=131072, max_num_batched_tokens=2048, max_num_seqs=256,
        weights_fit=True, fits=True)
    return replace(base, **changes)


def observation(**changes) -> Observation:
    base = Observation(
        model="org/model", revision="abc", engine="vllm", engine_version="0.28.0", hardware=dict(HARDWARE),
        options=dict(OPTIONS),
        predicted={"kv_cache_tokens": 61440, "kv_cache_bytes": 60 * GIB, "weights_bytes": 10 * GIB,
                   "overhead_bytes": 2 * GIB, "budget_bytes": 72 * GIB},
        observed={"kv_cache_tokens": 57344, "kv_cache_bytes": 56 * GIB, "weights_bytes": 10 * GIB,
                  "cudagraph_bytes": GIB // 2, "max_model_len_fit": None, "engine_version": "0.28.0"},
        outcome="started", at="2026-11-30T10:00:00+00:00", server="m-8000")
    return replace(base, **changes)


def key(**options) -> dict:
    return {"model": "org/model", "revision": "abc", "engine": "vllm", "engine_version": "0.28.0",
            "hardware": dict(HARDWARE), "options": {**OPTIONS, **options}}


# --- the store ---

def test_store_round_trip_keeps_order_and_every_field(tmp_path):
    first, second = observation(server="a"), observation(server="b", outcome="refused_kv")
    calibration.add(first, tmp_path)
    calibration.add(second, tmp_path)
    assert calibration.load(tmp_path) == [first, second]
    assert (tmp_path / "calibration" / "observations.jsonl").read_text().count("\n") == 2
    assert first.to_json()["error_pct"] == round((61440 - 57344) / 57344 * 100, 1)


def test_store_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(calibration, "MAX_OBSERVATIONS", 3)
    for i in range(5):
        calibration.add(observation(server=f"s{i}"), tmp_path)
    assert [o.server for o in calibration.load(tmp_path)] == ["s2", "s3", "s4"]


def test_damaged_lines_are_skipped_and_dropped_at_the_next_write(tmp_path):
    calibration.add(observation(server="good"), tmp_path)
    path = tmp_path / "calibration" / "observations.jsonl"
    good = path.read_text()
    wrong_type = {**observation().stored(), "options": {**OPTIONS, "max_model_len": "long"}}
    missing = {k: v for k, v in observation().stored().items() if k != "hardware"}
    bad_outcome = {**observation().stored(), "outcome": "maybe"}
    path.write_text(good + '{"model": "cut off' + "\n\x00\xff\n[1, 2]\n" + json.dumps(wrong_type) + "\n"
                    + json.dumps(missing) + "\n" + json.dumps(bad_outcome) + "\n" + "x" * 20000 + "\n" + good)
    assert [o.server for o in calibration.load(tmp_path)] == ["good", "good"]
    calibration.add(observation(server="new"), tmp_path)
    assert [o.server for o in calibration.load(tmp_path)] == ["good", "good", "new"]
    assert path.read_text().count("\n") == 3


def test_no_store_and_an_unreadable_store_are_empty(tmp_path):
    assert calibration.load(tmp_path) == []
    (tmp_path / "calibration" / "observations.jsonl").mkdir(parents=True)  # a folder where the file should be
    assert calibration.load(tmp_path) == []
    assert calibration.settle(tmp_path) == []


# --- start-up figures from a log ---

V1_STARTED = """\
(APIServer pid=1) INFO 11-30 10:00:00 [api_server.py:1] vLLM API server version 0.28.0
(EngineCore pid=2) INFO 11-30 10:00:09 [gpu_model_runner.py:3905] Model loading took 64.38 GiB memory and 14.3 seconds
(EngineCore pid=2) INFO 11-30 10:00:20 [gpu_worker.py:298] Available KV cache memory: 7.25 GiB
(EngineCore pid=2) INFO 11-30 10:00:20 [kv_cache_utils.py:1] GPU KV cache size: 105,584 tokens
(EngineCore pid=2) INFO 11-30 10:00:26 [gpu_model_runner.py:1] Graph capturing finished in 5 secs, took 0.53 GiB
(APIServer pid=1) INFO 11-30 10:00:27 [launcher.py:1] Application startup complete.
"""


def test_v1_start_up_figures():
    f = startup_figures(V1_STARTED.splitlines())
    assert f == {"outcome": "started", "version": "0.28.0", "weights_bytes": int(64.38 * GIB),
                 "kv_cache_bytes": int(7.25 * GIB), "kv_cache_tokens": 105584, "cudagraph_bytes": int(0.53 * GIB),
                 "max_model_len_fit": None}
    assert startup_figures(V1_STARTED.splitlines()[:4])["outcome"] is None  # still capturing graphs


def test_tensor_parallel_ranks_smallest_kv_largest_weights():
    lines = ["(Worker rank=0) Model loading took 30.1 GiB", "(Worker rank=1) Model loading took 30.4 GiB",
             "(Worker rank=0) Available KV cache memory: 20.5 GiB",
             "(Worker rank=1) Available KV cache memory: 20.2 GiB"]
    f = startup_figures(lines)
    assert f["weights_bytes"] == int(30.4 * GIB) and f["kv_cache_bytes"] == int(20.2 * GIB)


def test_v0_figures_blocks_times_block_size():
    lines = ["INFO 02-26 09:54:02 model_runner.py:1115] Loading model weights took 14.9888 GB",
             "INFO worker.py:267] model weights take 14.99GiB; non_torch_memory takes 0.35GiB; PyTorch activation "
             "peak memory takes 1.42GiB; the rest of the memory reserved for KV Cache is 3.81GiB.",
             "INFO executor_base.py:111] # cuda blocks: 1952, # CPU blocks: 2048"]
    f = startup_figures(lines)
    assert f["weights_bytes"] == int(14.9888 * GIB) and f["kv_cache_bytes"] == int(3.81 * GIB)
    assert f["kv_cache_tokens"] == 1952 * 16 and f["outcome"] is None


@pytest.mark.parametrize(("line", "outcome", "fit"), [
    ("ValueError: To serve at least one request with the model's max seq len (180000), 3.05 GiB KV cache is needed, "
     "which is larger than the available KV cache memory (2.17 GiB). Based on the available memory, the estimated "
     "maximum model length is 111456.", "refused_kv", 111456),
    ("ValueError: The model's max seq len (29000) is larger than the maximum number of tokens that can be stored in "
     "KV cache (23648). Try increasing `gpu_memory_utilization`", "refused_kv", None),
    ("ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization`", "refused_kv",
     None),
    ("Available KV cache memory: -2.14 GiB", "refused_kv", None),
    ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.", "oom", None),
    ("RuntimeError: something else entirely", None, None),
])
def test_failures_for_memory(line, outcome, fit):
    f = startup_figures(["Model loading took 14.99 GiB", line])
    assert f["outcome"] == outcome and f["max_model_len_fit"] == fit
    if "stored in KV cache" in line:
        assert f["kv_cache_tokens"] == 23648


# --- the setup a launch is for ---

def test_launch_options_read_from_argv_with_the_plan_for_the_rest():
    argv = ["vllm", "serve", "org/model", "--gpu-memory-utilization", "0.85", "--max-model-len=8192", "-tp", "2",
            "--kv_cache_dtype", "fp8", "--enforce-eager", "--max-num-seqs", "many"]
    assert launch_options(argv, plan()) == {
        "tensor_parallel_size": 2, "gpu_memory_utilization": 0.85, "max_model_len": 8192,
        "max_num_seqs": 256,  # not a number: the plan's value stands
        "max_num_batched_tokens": 2048, "kv_cache_dtype": "fp8", "enforce_eager": True}
    assert launch_options(["vllm", "serve", "m"], plan()) == OPTIONS


# --- matching ---

def test_the_same_setup_uses_the_newest_observation_as_is():
    old = observation(server="old", observed={**observation().observed, "kv_cache_tokens": 1})
    used = calibrate(plan(), key(), [old, observation()])
    assert used.source == "observed" and used.observed is not None and used.observed.server == "m-8000"
    assert used.kv_cache_tokens == 57344 and used.kv_cache_bytes == 56 * GIB and used.weights_bytes == 10 * GIB
    assert used.overhead_bytes == 72 * GIB - 10 * GIB - 56 * GIB and used.cudagraph_bytes == GIB // 2
    assert used.fits is True and used.planned == plan()
    assert "observed on this machine on 2026-11-30" in used.assumptions[-1]


def test_an_observed_setup_has_no_spread_and_is_not_tight():
    # The plan was tight (sure only up to 20,000 tokens); the same setup then started here with 57,344 tokens.
    tight = plan(tight=True, kv_cache_tokens_range=(48537, 67584), max_model_len_safe=20000)
    used = calibrate(tight, key(), [observation()])
    assert used.kv_cache_tokens_range == (57344, 57344) and used.tight is False
    assert used.max_model_len_safe == tight.max_model_len_fit


def test_a_refused_launch_of_the_same_setup_does_not_fit():
    refused = observation(outcome="refused_kv", observed={
        "kv_cache_tokens": None, "kv_cache_bytes": int(2.17 * GIB), "weights_bytes": 10 * GIB,
        "cudagraph_bytes": None, "max_model_len_fit": 2048, "engine_version": "0.28.0"})
    used = calibrate(plan(), key(), [refused])
    assert used.source == "observed" and used.fits is False and used.weights_fit is True
    assert used.kv_cache_tokens is None and used.max_model_len_fit == 2048
    finding = calibration.observed_finding(used)
    assert finding.severity == "error" and finding.rule == "observed-does-not-fit"
    oom = calibrate(plan(), key(), [replace(refused, outcome="oom", observed={
        **refused.observed, "weights_bytes": None, "kv_cache_bytes": None})])
    assert oom.fits is False and oom.weights_fit is False and oom.kv_cache_bytes == plan().kv_cache_bytes
    assert calibration.observed_finding(calibrate(plan(), key(), [observation()])) is None


@pytest.mark.parametrize("other", [
    {"engine_version": "0.27.0"}, {"revision": "def"}, {"model": "org/other"},
    {"hardware": {"name": "h100", "memory_bytes": 94 * GIB}}, {"hardware": {"name": "a100", "memory_bytes": 80 * GIB}},
])
def test_another_engine_version_revision_model_or_machine_teaches_nothing(other):
    assert calibrate(plan(), key(), [observation(**other)]) == plan()


def test_other_options_correct_the_plan():
    # Observed at util 0.9: budget 72 − weights 10 − KV 56 = 6 GiB overhead, against 2 GiB modelled (× 3).
    here = plan(gpu_memory_utilization=0.95, budget_bytes=76 * GIB, kv_cache_bytes=64 * GIB, kv_cache_tokens=65536,
                num_blocks=4096)
    used = calibrate(here, key(gpu_memory_utilization=0.95), [observation()])
    assert used.source == "plan" and used.observed is None and used.planned == here
    assert used.overhead_bytes == 6 * GIB and used.weights_bytes == 10 * GIB
    assert used.kv_cache_bytes == 76 * GIB - 10 * GIB - 6 * GIB
    assert used.kv_cache_tokens == 65536 * 60 // 64 and used.num_blocks == 4096 * 60 // 64
    assert used.max_model_len_fit == 61440 * 60 // 64 and used.fits is True
    assert "corrected by server m-8000" in used.assumptions[-1] and "gpu-memory-utilization 0.9" in \
        used.assumptions[-1]


def test_a_correction_moves_the_range_and_can_make_it_tight():
    # The plan was sure up to 40,000 tokens at max-model-len 32768; the measured overhead (42 GiB, not 2) leaves a
    # KV cache of 20/60 of the planned one: the range and the safe length shrink by that much, so it is now tight.
    obs = observation(observed={**observation().observed, "kv_cache_bytes": 20 * GIB})
    here = plan(kv_cache_tokens_range=(48537, 67584), max_model_len_safe=40000)
    used = calibrate(here, key(), [replace(obs, options={**OPTIONS, "max_num_seqs": 1024})])
    assert used.kv_cache_tokens_range == (48537 * 20 // 60, 67584 * 20 // 60)
    assert used.max_model_len_safe == 40000 * 20 // 60 and used.fits is False and used.tight is False
    roomy = calibrate(plan(kv_cache_tokens_range=(48537, 67584), max_model_len_safe=40000, max_model_len=16384),
                      key(max_model_len=16384), [replace(obs, options={**OPTIONS, "max_num_seqs": 1024})])
    assert roomy.fits is True and roomy.tight is True  # 16,384 fits by the estimate; sure only up to 13,333


def test_correction_scales_with_what_the_model_models():
    # A smaller batch: the model says 1 GiB overhead here; the launch measured 3 × what it modelled there.
    # Weights measured 5 % above the model: the same checkpoint, so 5 % above here too.
    obs = observation(observed={**observation().observed, "weights_bytes": int(10.5 * GIB)},
                      options={**OPTIONS, "max_num_seqs": 1024})
    here = plan(overhead_bytes=GIB, kv_cache_bytes=61 * GIB)
    used = corrected_plan(here, obs, key()["options"])
    measured = 72 * GIB - int(10.5 * GIB) - 56 * GIB
    assert used.overhead_bytes == round(GIB * measured / (2 * GIB))
    assert used.weights_bytes == round(10 * GIB * 1.05)
    assert used.kv_cache_bytes == 72 * GIB - used.weights_bytes - used.overhead_bytes
    assert "max-num-seqs 1024" in used.assumptions[-1]


def test_a_correction_can_say_it_no_longer_fits():
    obs = observation(observed={**observation().observed, "kv_cache_bytes": 20 * GIB})  # overhead 42 GiB, not 2
    used = calibrate(plan(max_model_len=65536, max_model_len_fit=65536), key(max_model_len=65536), [obs])
    assert used.kv_cache_tokens is not None and used.kv_cache_tokens < 65536 and used.fits is False
    assert used.max_model_len_fit < 65536


def test_contradictory_figures_teach_nothing():
    obs = observation(observed={**observation().observed, "kv_cache_bytes": 70 * GIB})  # 72 − 10 − 70 < 0
    assert calibrate(plan(), key(max_num_seqs=8), [obs]) == plan()


# --- a launch becomes an observation once its log says how it went ---

def launch(tmp_path: Path, name: str, log_text: str, prefix: str = "") -> Path:
    log = tmp_path / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(prefix + log_text)
    predicted = {**key(), "predicted": dict(observation().predicted)}
    calibration.note_launch(tmp_path, name, predicted, log, len(prefix.encode()), 1764496800.0)
    return log


def test_settle_turns_a_started_launch_into_one_observation(tmp_path):
    # An earlier launch's output in the same log (a refusal) is not this launch's.
    launch(tmp_path, "m-8000", V1_STARTED, prefix="ValueError: No available memory for the cache blocks\n")
    [obs] = calibration.settle(tmp_path)
    assert obs.outcome == "started" and obs.server == "m-8000" and obs.at == "2025-11-30T10:00:00+00:00"
    assert obs.observed["kv_cache_tokens"] == 105584 and obs.options == OPTIONS
    assert calibration.settle(tmp_path) == [] and len(calibration.load(tmp_path)) == 1  # once
    assert calibration.kv_line(calibration.launch_of(tmp_path, "m-8000")) == (61440, 105584)


def test_settle_waits_for_a_launch_still_starting_and_drops_one_that_ended_otherwise(tmp_path):
    log = launch(tmp_path, "slow", V1_STARTED.splitlines(keepends=True)[0])
    assert calibration.settle(tmp_path) == []
    assert calibration.launch_of(tmp_path, "slow")["settled"] is False
    (tmp_path / "exits").mkdir()
    (tmp_path / "exits" / "slow.json").write_text('{"exit_code": 1}')
    log.write_text(log.read_text() + "RuntimeError: something else entirely\n")
    assert calibration.settle(tmp_path) == [] and calibration.launch_of(tmp_path, "slow")["settled"] is True
    assert calibration.load(tmp_path) == []


def test_a_damaged_launch_file_is_no_traceback(tmp_path):
    folder = tmp_path / "calibration" / "launches"
    folder.mkdir(parents=True)
    (folder / "broken.json").write_text('{"model": ')
    (folder / "wrong.json").write_text('{"model": 3, "log": 5, "log_offset": "x", "settled": false}')
    (tmp_path / "exits").mkdir()
    (tmp_path / "exits" / "wrong.json").write_text('{"exit_code": 1}')
    assert calibration.settle(tmp_path) == []
    assert calibration.kv_line(calibration.launch_of(tmp_path, "wrong")) == (None, None)
