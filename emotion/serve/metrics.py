"""The service's Prometheus metrics (prometheus-client), served at ``GET /metrics``: requests by
route and status, request latency, inference time per model stage, jobs and streams. One
registry per app, so two apps in one process (tests) count apart."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""Histogram buckets (seconds) of request and inference time."""


class Metrics:
    """The metrics of one app."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "emotion_requests",
            "HTTP requests answered, by route and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "emotion_request_seconds",
            "Time to answer an HTTP request",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.inference = Histogram(
            "emotion_inference_seconds",
            "Time of one analysis, by kind (image, audio, video, text) and by live stage (live_face, live_utterance)",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.jobs_queued = Gauge("emotion_jobs_queued", "Jobs waiting or running", registry=self.registry)
        self.analyses_running = Gauge("emotion_analyses_running", "Analyses running now", registry=self.registry)
        self.streams_open = Gauge("emotion_streams_open", "Open WebSocket streams", registry=self.registry)
        self.stream_messages = Counter(
            "emotion_stream_messages", "WebSocket messages, by direction and type", ["direction", "type"], registry=self.registry
        )

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
