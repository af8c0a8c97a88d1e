"""Prometheus text → samples → rates, with the metric names vLLM exposes (and the deprecated ones)."""

from __future__ import annotations

from spark_tui.metrics.scrape import MetricsSample, parse, rates

VLLM_TEXT = """# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="m"} 1200.0
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="m"} 300.0
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 1.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} 4.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 4.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 0.8
"""


def sample(t: float, gen: float, prompt: float = 0.0) -> MetricsSample:
    return MetricsSample(t, gen, prompt, 0, 0, None, 0, 0, 0, 0)


def test_parse_vllm_metrics():
    s = parse(VLLM_TEXT, t=10.0)
    assert (s.generation_tokens, s.prompt_tokens, s.requests_running, s.requests_waiting) == (1200, 300, 3, 1)
    assert s.kv_cache_usage == 0.25 and s.ttft_count == 4 and s.ttft_sum == 0.8


def test_older_gpu_cache_usage_name_is_the_fallback():
    old = VLLM_TEXT.replace("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
    assert parse(old).kv_cache_usage == 0.25
    assert parse("# nothing\n").kv_cache_usage is None


def test_rates_over_a_window_and_counter_reset():
    history = [sample(0, 100), sample(10, 600), sample(20, 1100)]
    assert rates(history) == (50.0, 0.0)
    restarted = [sample(0, 1000), sample(10, 1500), sample(20, 200)]  # restart at ~15 s: counts from zero
    assert rates(restarted)[0] == (500 + 200) / 20
    old = [sample(0, 0), sample(200, 1000), sample(210, 1500)]  # only the last minute counts
    assert rates(old, window_s=60)[0] == 50.0
    assert rates([sample(0, 5)]) == (0.0, 0.0)
