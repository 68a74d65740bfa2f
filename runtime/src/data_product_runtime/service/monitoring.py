"""Prometheus metrics of the service; every series carries the model version and the variant."""

import os
from collections.abc import Callable, Iterable, Sequence
from time import perf_counter
from typing import Any

import numpy as np
from numpy.typing import NDArray
from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from data_product_runtime.service.state import ServedModel, ServingState

__all__ = ["CONTENT_TYPE", "MetricsMiddleware", "ServiceMetrics"]

# Seconds; fine-grained below 50 ms, where a healthy model service answers.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
NO_MODEL = "none"  # label value for requests that no model answered (health, metrics, errors)


class ServiceMetrics:
    """The service's own collector registry, so that several apps can live in one process."""

    def __init__(self, state: Callable[[], ServingState], score_buckets: tuple[float, ...]) -> None:
        self.registry = CollectorRegistry()
        labels = ["model_version", "variant"]
        self.requests = Counter(
            "http_requests", "HTTP requests by endpoint and status code.",
            ["endpoint", "method", "status", *labels], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "http_request_duration_seconds", "Time to answer an HTTP request.",
            ["endpoint", "method", *labels], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.predictions = Counter(
            "model_predictions", "Predictions made (shadow predictions included, by role).",
            [*labels, "role"], registry=self.registry,
        )  # fmt: skip
        self.scores = Histogram(
            "model_prediction_score", "Distribution of the model's monitored score per prediction.",
            [*labels, "role"], buckets=score_buckets, registry=self.registry,
        )  # fmt: skip
        self.errors = Counter(
            "model_errors", "Requests refused or failed, by reason.",
            ["reason", *labels], registry=self.registry,
        )  # fmt: skip
        self.timeouts = Counter(
            "model_timeouts", "Requests that exceeded the request timeout.", labels,
            registry=self.registry,
        )  # fmt: skip
        self.lost_log_entries = Counter(
            "prediction_log_lost_entries",
            "Prediction log entries lost because writing the log failed (a full disk).",
            registry=self.registry,
        )
        self._served_models = _ServedModelsCollector(state)
        self.registry.register(self._served_models)
        self._request_children: dict[tuple[str | int, ...], tuple[Any, Any]] = {}
        self._prediction_children: dict[tuple[str, ...], tuple[Any, Any]] = {}

    def observe_request(
        self, endpoint: str, method: str, status: int, seconds: float, served: tuple[str, str]
    ) -> None:
        """``served`` is (model version, variant)."""
        key = (endpoint, method, status, *served)
        children = self._request_children.get(key)
        if children is None:  # label lookups cost more than the update: done once per series
            children = self._request_children[key] = (
                self.requests.labels(endpoint, method, str(status), *served),
                self.latency.labels(endpoint, method, *served),
            )
        children[0].inc()
        children[1].observe(seconds)

    def observe_predictions(
        self, served: ServedModel, variant: str, role: str, scores: NDArray[np.float64]
    ) -> None:
        key = (served.version, variant, role)
        children = self._prediction_children.get(key)
        if children is None:
            children = self._prediction_children[key] = (
                self.predictions.labels(*key),
                self.scores.labels(*key),
            )
        children[0].inc(len(scores))
        _observe_many(children[1], scores)

    def exposition(self) -> bytes:
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            return generate_latest(self.registry)
        # Several worker processes: counters and histograms summed over all of them (files
        # in that folder); model_info and drift from the worker that answers this scrape.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(self._served_models)
        return generate_latest(registry)


def _observe_many(histogram: Any, values: NDArray[np.float64]) -> None:
    """``histogram.observe`` for each value, in one pass (prometheus_client has no bulk call).

    Same arithmetic as ``Histogram.observe``: a value lands in the first bucket whose upper
    bound is at or above it, and the sum grows by the value. Tested against observe().
    """
    if len(values) == 1:
        histogram.observe(float(values[0]))
        return
    bounds = np.asarray(histogram._upper_bounds)
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    for bucket, count in zip(histogram._buckets, counts.tolist(), strict=True):
        if count:
            bucket.inc(count)
    histogram._sum.inc(float(values.sum()))


class _ServedModelsCollector(Collector):
    """Per served model at scrape time: model_info, and drift of its inputs and of its score."""

    def __init__(self, state: Callable[[], ServingState]) -> None:
        self.state = state

    def collect(self) -> Iterable[Metric]:
        state = self.state()
        info = GaugeMetricFamily(
            "model_info", "A served model (always 1), with its metadata as labels.",
            labels=["model_version", "variant", "role", "problem_type", "created_at", "training_data_sha256", "package_version"],
        )  # fmt: skip
        drift = GaugeMetricFamily(
            "model_input_drift_psi",
            "Population stability index of each feature over the recent window against training.",
            labels=["model_version", "variant", "feature"],
        )
        score_drift = GaugeMetricFamily(
            "model_score_drift_psi",
            "Population stability index of the model's score over the recent window against training.",
            labels=["model_version", "variant"],
        )
        window = GaugeMetricFamily(
            "model_drift_window_rows",
            "Rows in the drift window.",
            labels=["model_version", "variant"],
        )
        roles = [(name, "variant", served) for name, served in state.variants.items()]
        roles += [("shadow", "shadow", served) for served in state.shadows]
        for variant, role, served in roles:
            metadata = served.model.metadata
            info.add_metric(
                [served.version, variant, role, metadata.problem_type, metadata.created_at.isoformat(),
                 metadata.training_data.sha256, metadata.package_version],
                1.0,
            )  # fmt: skip
            if served.input_drift is not None:
                window.add_metric([served.version, variant], served.input_drift.rows)
                for feature, value in zip(
                    metadata.feature_names, served.input_drift.psi(), strict=True
                ):
                    drift.add_metric([served.version, variant, feature], float(value))
            if served.score_drift is not None:
                score_drift.add_metric(
                    [served.version, variant], float(served.score_drift.psi()[0])
                )
        yield from (info, drift, score_drift, window)


class MetricsMiddleware:
    """Counts and times every request by route template; handlers add version and variant.

    ``routes`` are the app's own: FastAPI marks its API routes in the scope, the others
    (``/openapi.json``, the bundled docs assets) are matched here, so only unknown paths
    are counted as ``unmatched``.
    """

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, routes: Sequence[Any] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500
        path = scope["path"]  # routing rewrites the scope of mounted apps

        async def send_and_record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or scope.get("route_path") or self._label(path)
            served = scope.get("served", (NO_MODEL, NO_MODEL))
            self.metrics.observe_request(
                endpoint, scope["method"], status, perf_counter() - started, served
            )

    def _label(self, path: str) -> str:
        for route in self.routes:
            pattern = getattr(route, "path_regex", None)
            if pattern is not None and pattern.match(path):
                return str(route.path)
        return "unmatched"
