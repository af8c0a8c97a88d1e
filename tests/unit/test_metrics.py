"""Prometheus text → samples → rates, with the metric names vLLM exposes (and the deprecated ones)."""

from __future__ import annotations

from spark_tui.engines.vllm import VLLM
from spark_tui.metrics.scrape import MetricsSample, parse, rates

NAMES = VLLM.metric_names

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
    s = parse(VLLM_TEXT, NAMES, t=10.0)
    assert (s.generation_tokens, s.prompt_tokens, s.requests_running, s.requests_waiting) == (1200, 300, 3, 1)
    assert s.kv_cache_usage == 0.25 and s.ttft_count == 4 and s.ttft_sum == 0.8


def test_older_gpu_cache_usage_name_is_the_fallback():
    old = VLLM_TEXT.replace("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
    assert parse(old, NAMES).kv_cache_usage == 0.25
    assert parse("# nothing\n", NAMES).kv_cache_usage is None


def test_rates_over_a_window_and_counter_reset():
    history = [sample(0, 100), sample(10, 600), sample(20, 1100)]
    assert rates(history) == (50.0, 0.0)
    restarted = [sample(0, 1000), sample(10, 1500), sample(20, 200)]  # restart at ~15 s: counts from zero
    assert rates(restarted)[0] == (500 + 200) / 20
    old = [sample(0, 0), sample(200, 1000), sample(210, 1500)]  # only the last minute counts
    assert rates(old, window_s=60)[0] == 50.0
    assert rates([sample(0, 5)]) == (0.0, 0.0)


def test_a_full_page_reads_the_same_as_its_relevant_lines():
    """The pre-filter drops buckets, other families and process metrics; what is read must not change."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
    from prometheus_client.process_collector import ProcessCollector

    from spark_tui.metrics.scrape import relevant_lines

    registry = CollectorRegistry()
    labels = ["model_name", "engine"]

    def metric(kind, name):
        return kind(name, name, labels, registry=registry).labels(model_name="m", engine="0")

    metric(Counter, "vllm:generation_tokens").inc(1234)
    metric(Counter, "vllm:prompt_tokens").inc(56)
    metric(Gauge, "vllm:num_requests_running").set(3)
    metric(Gauge, "vllm:num_requests_waiting").set(2)
    metric(Gauge, "vllm:kv_cache_usage_perc").set(0.4)
    ttft = metric(Histogram, "vllm:time_to_first_token_seconds")
    for value in (0.1, 0.3):
        ttft.observe(value)
    metric(Histogram, "vllm:inter_token_latency_seconds").observe(0.02)
    metric(Histogram, "vllm:e2e_request_latency_seconds").observe(9.0)
    metric(Counter, "vllm:num_preemptions").inc(7)
    ProcessCollector(registry=registry)
    page = generate_latest(registry).decode()
    s = parse(page, NAMES, t=1.0)
    assert (s.generation_tokens, s.prompt_tokens, s.requests_running, s.requests_waiting) == (1234, 56, 3, 2)
    assert s.kv_cache_usage == 0.4 and s.ttft_count == 2 and abs(s.ttft_sum - 0.4) < 1e-9
    assert s.itl_count == 1 and abs(s.itl_sum - 0.02) < 1e-9
    kept = relevant_lines(page, NAMES)
    assert "_bucket" not in kept and "e2e" not in kept and "process_" not in kept and "preemptions" not in kept
    assert len(kept.splitlines()) < len(page.splitlines()) / 2


def test_scrape_connections_are_kept_alive_and_renewed_after_a_restart():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from spark_tui.engines import http as engine_http

    connections = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            connections.append(self.client_address)

        def do_GET(self):
            body = VLLM_TEXT.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    def serve(port=0):
        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    server = serve()
    port = server.server_address[1]
    url = f"http://127.0.0.1:{port}"
    from spark_tui.metrics.scrape import scrape

    assert scrape(url, NAMES).generation_tokens == 1200 and scrape(url, NAMES).generation_tokens == 1200
    assert len(connections) == 1  # one connection, kept alive
    def drop_kept_connections():  # as a dead server would: its kept connections are cut (only this test's)
        import contextlib

        for conn in engine_http._idle.get(("127.0.0.1", port), []):
            if conn.sock is not None:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(2)

    server.shutdown()
    server.server_close()
    drop_kept_connections()
    server = serve(port)  # "restarted" on the same port
    assert scrape(url, NAMES).generation_tokens == 1200
    server.shutdown()
    server.server_close()
    drop_kept_connections()
    assert scrape(url, NAMES) is None  # gone for good: no answer, no exception
