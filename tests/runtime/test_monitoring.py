"""The service's Prometheus metrics: the fixed set of families (names, types and labels) that
the alert rules and the Grafana dashboard of every generated project are written against.
Those files are the project's, and its own tests check them against the running service
(with promtool and Prometheus in the template's full tier)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

# The families the service exports, their types and label names ("le" of histograms aside):
# the contract the alert rules and dashboards of every generated project rely on.
LABELS = ("model_version", "variant")
METRICS: dict[str, tuple[str, set[str]]] = {
    "http_requests": ("counter", {"endpoint", "method", "status", *LABELS}),
    "http_request_duration_seconds": ("histogram", {"endpoint", "method", *LABELS}),
    "model_predictions": ("counter", {"role", *LABELS}),
    "model_prediction_score": ("histogram", {"role", *LABELS}),
    "model_errors": ("counter", {"reason", *LABELS}),
    "model_timeouts": ("counter", {*LABELS}),
    "model_info": (
        "gauge",
        {"role", "problem_type", "created_at", "training_data_sha256", "package_version", *LABELS},
    ),
    "model_input_drift_psi": ("gauge", {"feature", *LABELS}),
    "model_score_drift_psi": ("gauge", set(LABELS)),
    "model_drift_window_rows": ("gauge", set(LABELS)),
    "prediction_log_lost_entries": ("counter", set()),
}


def test_the_service_exports_the_documented_metrics(
    client: TestClient, record: dict[str, float]
) -> None:
    assert client.post("/predict", json={"features": record}).status_code == 200
    assert client.post("/predict", json={"features": {}}).status_code == 422
    exposition = client.get("/metrics").text
    families = {
        family.name: family
        for family in text_string_to_metric_families(exposition)
        if not family.name.endswith("_created")
    }
    assert {name: family.type for name, family in families.items()} == {
        name: kind for name, (kind, _) in METRICS.items()
    }
    for name, family in families.items():
        for sample in family.samples:  # model_timeouts has none until a request times out
            assert set(sample.labels) - {"le"} == METRICS[name][1], (name, sample)
