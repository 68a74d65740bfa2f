"""The HTTP service: predictions, every kind of bad input, health and metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from data_product_runtime.core.model import Model
from data_product_runtime.service.app import PAGE_POLICY


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}


def test_predict_answers_with_the_model_version(
    client: TestClient, model: Model, record: dict[str, float], problem_type: str
) -> None:
    response = client.post("/predict", json={"features": record}, headers={"X-Request-ID": "req-1"})
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == model.version
    assert body["variant"] == "main"
    assert body["request_id"] == "req-1"
    assert response.headers["x-request-id"] == "req-1"
    if problem_type == "classification":
        assert body["prediction"] in {"malignant", "benign"}
        assert body["probabilities"].keys() == {"malignant", "benign"}
        assert sum(body["probabilities"].values()) == pytest.approx(1.0)
        assert body["probabilities"][body["prediction"]] == max(body["probabilities"].values())
    else:
        assert isinstance(body["prediction"], float)


def test_predict_matches_the_pipeline(
    client: TestClient, model: Model, record: dict[str, float]
) -> None:
    (expected,) = model.predict(np.array([list(record.values())]))
    body = client.post("/predict", json={"features": record}).json()
    assert body["prediction"] == expected.value


def test_request_ids_are_generated_when_absent(
    client: TestClient, record: dict[str, float]
) -> None:
    first = client.post("/predict", json={"features": record}).json()["request_id"]
    second = client.post("/predict", json={"features": record}).json()["request_id"]
    assert first != second
    assert first.rsplit("-", 1)[0] == second.rsplit("-", 1)[0]  # one process, one prefix


def _with(record: dict[str, float], **changes: Any) -> dict[str, Any]:
    return {**record, **changes}


def _first_feature(record: dict[str, float]) -> str:
    return next(iter(record))


@pytest.mark.parametrize(
    ("case", "expected_message"),
    [
        ("missing", "Field required"),
        ("extra", "Extra inputs are not permitted"),
        ("string", "Input should be a valid number"),
        ("numeric string", "Input should be a valid number"),
        ("boolean", "Input should be a valid number"),
        ("null", "Input should be a valid number"),
        ("NaN", "Input should be a finite number"),
        ("Infinity", "Input should be a finite number"),
        ("overflow", "Input should be a finite number"),
    ],
)
def test_bad_features_get_422_naming_the_field(
    client: TestClient, record: dict[str, float], case: str, expected_message: str
) -> None:
    name = _first_feature(record)
    features: dict[str, Any] = dict(record)
    raw_value = {"NaN": "NaN", "Infinity": "Infinity", "overflow": "1e999"}.get(case)
    if case == "missing":
        del features[name]
    elif case == "extra":
        features["not_a_feature"] = 1.0
        name = "not_a_feature"
    elif raw_value is not None:
        features[name] = "__RAW__"
    else:
        features[name] = {"string": "abc", "numeric string": "1.5", "boolean": True, "null": None}[
            case
        ]
    body = json.dumps({"features": features}).replace('"__RAW__"', raw_value or "")
    response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "features", name]
    assert expected_message in error["msg"]


@pytest.mark.parametrize(
    ("body", "expected_message"),
    [
        ("{not json", "JSON decode error"),
        ("[]", "Input should be a valid dictionary"),
        ("{}", "Field required"),
        ('{"features": []}', "Input should be a valid dictionary"),
    ],
)
def test_malformed_bodies_get_422(client: TestClient, body: str, expected_message: str) -> None:
    response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert expected_message in json.dumps(response.json())


def test_oversized_bodies_get_413(client: TestClient, record: dict[str, float]) -> None:
    padding = {"features": record, "padding": "x" * 5000}
    response = client.post("/predict", json=padding)
    assert response.status_code == 413
    assert "larger than 4096 bytes" in response.json()["detail"]


def test_oversized_chunked_bodies_get_413(client: TestClient) -> None:
    chunks = (b"x" * 1024 for _ in range(8))
    response = client.post("/predict", content=chunks, headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_invalid_content_length_gets_400(client: TestClient) -> None:
    response = client.post("/predict", content=b"{}", headers={"Content-Length": "abc"})
    assert response.status_code == 400


def sample(exposition: str, name: str, **labels: str) -> float:
    """Sum of the samples called name whose labels include the given ones."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def test_metrics_count_requests_and_predictions_by_model_version_and_variant(
    client: TestClient, model: Model, record: dict[str, float], problem_type: str
) -> None:
    served = {"model_version": model.version, "variant": "main"}
    before = client.get("/metrics").text
    for _ in range(3):
        client.post("/predict", json={"features": record})
    client.post("/predict", json={"features": {}})
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")

    def grew(name: str, **labels: str) -> float:
        return sample(after.text, name, **labels) - sample(before, name, **labels)

    assert grew("http_requests_total", endpoint="/predict", status="200", **served) == 3
    assert grew("model_predictions_total", role="variant", **served) == 3
    assert grew("model_prediction_score_count", role="variant", **served) == 3
    assert grew("http_request_duration_seconds_count", endpoint="/predict", **served) == 3
    # Refused before any model was chosen: counted, with "none" for version and variant.
    assert grew("http_requests_total", endpoint="/predict", status="422", model_version="none") == 1
    assert grew("model_errors_total", reason="invalid_request") == 1
    info = {"model_version": model.version, "problem_type": problem_type, "role": "variant"}
    assert sample(after.text, "model_info", **info) == 1
    assert sample(after.text, "model_drift_window_rows", **served) >= 3
    feature = next(iter(record))
    assert "model_input_drift_psi{" + f'feature="{feature}"' in after.text


def test_unknown_paths_are_counted_without_their_path(client: TestClient) -> None:
    assert client.get("/no/such/path").status_code == 404
    exposition = client.get("/metrics").text
    assert 'endpoint="unmatched",method="GET",model_version=' in exposition
    assert "/no/such/path" not in exposition


def test_the_api_pages_are_counted_under_their_own_names(client: TestClient) -> None:
    before = client.get("/metrics").text
    pages = client.get("/docs").text + client.get("/redoc").text
    asset = re.findall(r"""["'](/static-offline-docs/[^"']+)["']""", pages)[0]
    assert client.get("/openapi.json").status_code == client.get(asset).status_code == 200
    after = client.get("/metrics").text
    for endpoint in ("/docs", "/redoc", "/openapi.json", "/static-offline-docs"):
        grew = sample(after, "http_requests_total", endpoint=endpoint) - sample(
            before, "http_requests_total", endpoint=endpoint
        )
        assert grew == 1, endpoint
    unmatched = {"endpoint": "unmatched"}
    assert sample(after, "http_requests_total", **unmatched) == sample(
        before, "http_requests_total", **unmatched
    )


def test_openapi_schema_lists_every_feature(client: TestClient, record: dict[str, float]) -> None:
    schema = client.get("/openapi.json").json()
    features = schema["components"]["schemas"]["Features"]
    assert set(features["required"]) == set(record)
    assert features["additionalProperties"] is False


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("[" * 2000 + "]" * 2000, "nested too deeply"),
        ('{"features": ' + "[" * 2000 + "]" * 2000 + "}", "nested too deeply"),
        ('{"features": {"x": ' + "9" * 5000 + "}}", "Exceeds the limit (4300 digits)"),
        ('{"features": {"x": "\xff\xfe"}}', "JSON decode error"),
    ],
    ids=["deep", "deep-features", "long-integer", "bad-bytes"],
)
@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
@pytest.mark.usefixtures("trained")
def test_bodies_the_parser_chokes_on_get_a_422_naming_the_problem(
    server: Callable[..., TestClient], registry_dir: Path, path: str, body: str, reason: str
) -> None:
    """Once these answered 500: the parser's and the number conversion's own limits."""
    data = body.encode("latin-1")
    if path.endswith("batch"):
        data = data.replace(b'{"features": ', b'{"records": [', 1) + b"]"
    with server(registry_dir) as client:
        answer = client.post(path, content=data, headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert reason in answer.text


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_pages_load_nothing_from_outside(client: TestClient, page: str) -> None:
    """Air-gapped networks get working pages: every asset is served by the service itself."""
    html = client.get(page)
    assert html.status_code == 200
    assert html.headers["content-security-policy"] == PAGE_POLICY
    assert "content-security-policy" not in client.get("/openapi.json").headers
    assert not re.findall(r"(?:src|href)=[\"']?(?:https?:)?//", html.text), "an outside asset"
    assets = re.findall(r"""(?:src|href|url:)\s*=?\s*["'](/[^"']+)["']""", html.text)
    assert any(asset.endswith(".js") for asset in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
