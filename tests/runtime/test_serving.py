"""Batch predictions, A/B variants, shadow models, reloads and the prediction log."""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from data_product_runtime.core.dataset import Dataset
from data_product_runtime.core.routing import RoutingConfig, Variant
from data_product_runtime.io.local_registry import LocalModelRegistry
from data_product_runtime.jobs.training import train
from data_product_runtime.project import Project
from data_product_runtime.service.asgi import app_from_settings
from data_product_runtime.service.auth import AdminTokenError
from data_product_runtime.service.monitoring import _observe_many
from data_product_runtime.service.prediction_log import PredictionLog
from data_product_runtime.settings import Settings


@pytest.fixture(scope="module")
def two_versions(
    tmp_path_factory: pytest.TempPathFactory, project: Project
) -> tuple[Path, str, str]:
    """A registry with two versions: (folder, older, newer)."""
    folder = tmp_path_factory.mktemp("two")
    older = train(project, _settings(project, model_dir=folder)).version
    newer = train(project, _settings(project, model_dir=folder, random_seed=7)).version
    return folder, older, newer


TOKEN = "a-long-random-admin-token"  # noqa: S105  (a test's own)
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def _settings(project: Project, **overrides: Any) -> Settings:
    """The project's settings (its own subclass of Settings) with some fields overridden."""
    return project.settings(**overrides)


def _records(bundled: Dataset, count: int) -> list[dict[str, float]]:
    return [
        dict(zip(bundled.feature_names, row.tolist(), strict=True))
        for row in bundled.features[:count]
    ]


def test_batch_predictions_match_single_ones(client: TestClient, bundled: Dataset) -> None:
    records = _records(bundled, 4)  # the shared client accepts bodies up to 4 KB
    batch = client.post("/predict/batch", json={"records": records, "key": "k"})
    assert batch.status_code == 200, batch.text
    singles = [client.post("/predict", json={"features": r}).json() for r in records]
    assert [p["prediction"] for p in batch.json()["predictions"]] == [
        s["prediction"] for s in singles
    ]
    assert batch.json()["variant"] == "main"


@pytest.mark.parametrize(
    ("body", "status", "location", "message"),
    [
        ({"records": []}, 422, ["body", "records"], "at least 1 item"),
        ({"records": {}}, 422, ["body", "records"], "valid list"),
        ({}, 422, ["body", "records"], "Field required"),
        ({"records": [{}], "extra": 1}, 422, ["body", "extra"], "Extra inputs"),
        ({"records": [1]}, 422, ["body", "records", 0], "valid dictionary"),
        ({"records": [{"a": 1}], "key": 5}, 422, ["body", "key"], "string"),
    ],
)
def test_bad_batches_are_refused_by_location(
    client: TestClient, body: dict[str, Any], status: int, location: list[Any], message: str
) -> None:
    response = client.post("/predict/batch", json=body)
    assert response.status_code == status
    assert response.json()["detail"][0]["loc"] == location
    assert message in response.json()["detail"][0]["msg"]


def test_a_bad_record_in_a_batch_is_named_by_index_and_field(
    client: TestClient, bundled: Dataset
) -> None:
    records = _records(bundled, 5)
    name = bundled.feature_names[3]
    records[2][name] = "oops"  # type: ignore[assignment]
    response = client.post("/predict/batch", json={"records": records})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body", "records", 2, name],
            "msg": "Input should be a valid number",
            "type": "float_type",
        }
    ]


@pytest.mark.usefixtures("trained")
def test_too_many_records_are_refused(
    registry_dir: Path, bundled: Dataset, server: Callable[..., TestClient]
) -> None:
    with server(registry_dir, max_batch_records=3) as client:
        response = client.post("/predict/batch", json={"records": _records(bundled, 4)})
    assert response.status_code == 422
    assert "at most 3 items" in response.json()["detail"][0]["msg"]


@pytest.mark.usefixtures("trained")
def test_slow_batches_time_out_with_504(
    registry_dir: Path, bundled: Dataset, server: Callable[..., TestClient]
) -> None:
    with server(registry_dir, request_timeout_seconds=1e-9, max_body_bytes=10**7) as client:
        response = client.post("/predict/batch", json={"records": _records(bundled, 300)})
        assert response.status_code == 504
        assert "model_timeouts_total" in client.get("/metrics").text


def test_variants_are_sticky_and_can_be_asked_for(
    two_versions: tuple[Path, str, str],
    bundled: Dataset,
    tmp_path: Path,
    server: Callable[..., TestClient],
) -> None:
    folder, older, newer = two_versions
    routing = RoutingConfig(
        variants=(
            Variant(name="a", model=older, weight=1),
            Variant(name="b", model=newer, weight=1),
        ),
        shadow=(older,),
    )
    record = _records(bundled, 1)[0]
    log = tmp_path / "predictions.jsonl"
    with server(folder, routing, prediction_log=PredictionLog(log)) as client:
        first = client.post("/predict", json={"features": record, "key": "customer-1"}).json()
        again = client.post("/predict", json={"features": record, "key": "customer-1"}).json()
        assert (first["variant"], first["model_version"]) == (
            again["variant"],
            again["model_version"],
        )
        seen = {
            client.post("/predict", json={"features": record, "key": f"k{n}"}).json()["variant"]
            for n in range(40)
        }
        assert seen == {"a", "b"}
        asked = client.post("/predict", json={"features": record, "variant": "b"}).json()
        assert (asked["variant"], asked["model_version"]) == ("b", newer)
        unknown = client.post("/predict", json={"features": record, "variant": "zzz"})
        assert unknown.status_code == 422
        assert "unknown variant 'zzz' (known: a, b)" in unknown.text
        served = {
            (m["variant"], m["role"], m["model_version"]) for m in client.get("/models").json()
        }
        assert served == {
            ("a", "variant", older),
            ("b", "variant", newer),
            ("shadow", "shadow", older),
        }
        metrics = client.get("/metrics").text
    # The older model also answers b's requests in the shadow, logged and counted apart.
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    shadow = [line for line in lines if line["role"] == "shadow"]
    assert shadow
    assert {line["model_version"] for line in shadow} == {older}
    assert {line["variant"] for line in shadow} == {"b"}
    assert all(len(line["inputs_sha256"]) == 64 for line in lines)
    shadow_count = (
        "model_predictions_total{" + f'model_version="{older}",role="shadow",variant="b"' + "}"
    )
    assert shadow_count in metrics


def test_reload_switches_models_without_a_restart(
    two_versions: tuple[Path, str, str], bundled: Dataset, tmp_path: Path, project: Project
) -> None:
    folder, older, newer = two_versions
    routing_file = tmp_path / "routing.json"
    routing_file.write_text(RoutingConfig.single(older).model_dump_json())
    record = _records(bundled, 1)[0]
    settings = _settings(
        project, model_dir=folder, routing_file=routing_file, prediction_log=None,
        admin_token=TOKEN,
    )  # fmt: skip
    with TestClient(app_from_settings(project, settings), headers=ADMIN) as client:
        assert client.post("/predict", json={"features": record}).json()["model_version"] == older
        routing_file.write_text(RoutingConfig.single(newer).model_dump_json())
        assert client.post("/admin/reload").json() == {"main": newer}
        assert client.post("/predict", json={"features": record}).json()["model_version"] == newer
        routing_file.write_text('{"variants": []}')
        refused = client.post("/admin/reload")
        assert refused.status_code == 409
        assert "still serving the previous models" in refused.json()["detail"]
        assert client.post("/predict", json={"features": record}).json()["model_version"] == newer
        assert client.get(f"/models/{newer}").json()["version"] == newer
        missing = client.get("/models/nope")
        assert missing.status_code == 404
        assert "is not served" in missing.json()["detail"]


def test_the_service_follows_the_production_alias(
    two_versions: tuple[Path, str, str], server: Callable[..., TestClient]
) -> None:
    folder, older, newer = two_versions
    registry = LocalModelRegistry(folder)
    registry.promote(older, "production", actor="test")
    with server(folder, admin_token=TOKEN) as client:
        assert client.get("/models").json()[0]["model_version"] == older
        registry.promote(newer, "production", actor="test")
        assert client.post("/admin/reload", headers=ADMIN).json() == {"main": newer}
    registry.rollback("production", actor="test")


def test_bulk_histogram_updates_equal_single_observations() -> None:
    values = np.array([0.05, 0.1, 0.1000001, 0.5, 0.95, 1.0, 7.0])
    one, many = CollectorRegistry(), CollectorRegistry()
    for registry, bulk in ((one, False), (many, True)):
        histogram = Histogram("h", "h", buckets=(0.1, 0.5, 1.0), registry=registry)
        if bulk:
            _observe_many(histogram, values)
        else:
            for value in values:
                histogram.observe(float(value))

    def samples(registry: CollectorRegistry) -> list[str]:
        return [
            line
            for line in generate_latest(registry).decode().splitlines()
            if "_created" not in line
        ]

    assert samples(one) == samples(many)


def test_the_prediction_log_reaches_disk_without_a_later_request(
    two_versions: tuple[Path, str, str],
    bundled: Dataset,
    tmp_path: Path,
    server: Callable[..., TestClient],
) -> None:
    """30 requests, then quiet: all 30 lines are on disk within the flush interval."""
    folder, older, _ = two_versions
    log = tmp_path / "predictions.jsonl"
    routing = RoutingConfig(variants=(Variant(name="a", model=older, weight=1),))
    with server(folder, routing, prediction_log=PredictionLog(log, flush_seconds=0.2)) as client:
        for record in _records(bundled, 30):
            assert client.post("/predict", json={"features": record}).status_code == 200
        deadline = time.monotonic() + 10
        while _lines(log) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _lines(log) == 30


def _lines(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def test_a_failed_log_write_leaves_whole_lines_and_is_counted(
    two_versions: tuple[Path, str, str],
    bundled: Dataset,
    tmp_path: Path,
    server: Callable[..., TestClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, older, _ = two_versions
    log = tmp_path / "predictions.jsonl"
    routing = RoutingConfig(variants=(Variant(name="a", model=older, weight=1),))
    records = _records(bundled, 3)
    prediction_log = PredictionLog(log, max_buffered=1)  # one write per request
    with server(folder, routing, prediction_log=prediction_log) as client:
        assert client.post("/predict", json={"features": records[0]}).status_code == 200
        real_write = os.write

        def half_then_full(descriptor: int, data: bytes) -> int:
            if len(data) > 1:
                return real_write(descriptor, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(os, "write", half_then_full)
        assert client.post("/predict", json={"features": records[1]}).status_code == 200
        monkeypatch.undo()
        assert client.post("/predict", json={"features": records[2]}).status_code == 200
        metrics = client.get("/metrics").text
    lines = [json.loads(line) for line in log.read_text().splitlines()]  # all whole
    assert len(lines) == 2
    assert "prediction_log_lost_entries_total 1.0" in metrics


@pytest.mark.parametrize(
    ("token", "headers", "status"),
    [
        (None, ADMIN, 403),  # no token configured: refused to everyone
        (TOKEN, {}, 401),
        (TOKEN, {"Authorization": "Bearer wrong"}, 401),
        (TOKEN, {"Authorization": f"Basic {TOKEN}"}, 401),
        (TOKEN, ADMIN, 200),
    ],
)
def test_admin_and_metadata_endpoints_need_the_admin_token(
    two_versions: tuple[Path, str, str],
    server: Callable[..., TestClient],
    token: str | None,
    headers: dict[str, str],
    status: int,
) -> None:
    folder, _, _ = two_versions
    with server(folder, admin_token=token) as client:
        served = client.get("/models").json()[0]["model_version"]  # the summary stays public
        assert client.post("/admin/reload", headers=headers).status_code == status
        assert client.get(f"/models/{served}", headers=headers).status_code == status
        assert client.get("/health").status_code == 200


def test_the_admin_token_can_come_from_a_file(
    two_versions: tuple[Path, str, str], tmp_path: Path, project: Project
) -> None:
    folder, _, _ = two_versions
    secret = tmp_path / "admin-token"
    secret.write_text(f"{TOKEN}\n")
    settings = _settings(project, model_dir=folder, prediction_log=None, admin_token_file=secret)
    with TestClient(app_from_settings(project, settings)) as client:
        assert client.post("/admin/reload", headers=ADMIN).status_code == 200
        assert client.post("/admin/reload").status_code == 401
    secret.write_text("")
    with pytest.raises(AdminTokenError, match=f"admin_token_file {secret} is empty"):
        app_from_settings(project, settings)
