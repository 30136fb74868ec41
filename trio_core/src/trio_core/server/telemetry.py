"""The server's Prometheus metrics, in a registry of its own (one per app, so tests and reloads start clean)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("trio_requests", "HTTP requests by route and status.", ["route", "status"], registry=r)
        self.inference = Histogram(
            "trio_inference_seconds", "Model time per answer.", buckets=LATENCY_BUCKETS, registry=r
        )
        self.ttft = Histogram(
            "trio_time_to_first_token_seconds", "Time to first token.", buckets=LATENCY_BUCKETS, registry=r
        )
        self.tokens = Counter("trio_tokens", "Tokens by kind (prompt, completion).", ["kind"], registry=r)
        self.queue_depth = Gauge("trio_queue_depth", "Requests waiting for the model.", registry=r)
        self.cache_hits = Counter("trio_cache_hits", "KV-cache hits by kind.", ["kind"], registry=r)
        self.watches = Gauge("trio_active_watches", "Camera watches running.", registry=r)
        self.alerts = Counter("trio_alerts", "Watch alerts fired.", registry=r)

    def answered(self, result) -> None:
        metrics = result.metrics
        self.inference.observe(metrics.latency_ms / 1000)
        self.ttft.observe(metrics.ttft_ms / 1000)
        self.tokens.labels("prompt").inc(metrics.prompt_tokens)
        self.tokens.labels("completion").inc(metrics.completion_tokens)
        if metrics.cache_hit != "none":
            self.cache_hits.labels(metrics.cache_hit).inc()
