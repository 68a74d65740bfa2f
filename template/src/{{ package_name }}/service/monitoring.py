"""Prometheus metrics of the service, every series labelled with the model version."""

from time import perf_counter

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_TYPE", "MetricsMiddleware", "ServiceMetrics"]

# Seconds; fine-grained below 50 ms, where a healthy model service answers.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServiceMetrics:
    """The service's own collector registry, so that several apps can live in one process."""

    def __init__(self, model_version: str, problem_type: str) -> None:
        self.model_version = model_version
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests",
            "HTTP requests handled, by endpoint, method and status code.",
            ["endpoint", "method", "status", "model_version"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["endpoint", "method", "model_version"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "model_predictions",
            "Predictions made.",
            ["model_version"],
            registry=self.registry,
        )
        Gauge(
            "model_info",
            "The model being served (always 1).",
            ["model_version", "problem_type"],
            registry=self.registry,
        ).labels(model_version, problem_type).set(1)

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status), self.model_version).inc()
        self.latency.labels(endpoint, method, self.model_version).observe(seconds)

    def count_predictions(self, count: int) -> None:
        self.predictions.labels(self.model_version).inc(count)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (bounded label values)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500

        async def send_and_record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", "unmatched")
            self.metrics.observe_request(
                endpoint, scope["method"], status, perf_counter() - started
            )
