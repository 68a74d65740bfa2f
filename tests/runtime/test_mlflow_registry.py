"""The MLflow registry backend, against a real MLflow tracking server started on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from mlflow import MlflowClient

from data_product_runtime import Project
from data_product_runtime.core.dataset import Dataset
from data_product_runtime.io.mlflow_registry import MlflowModelRegistry
from data_product_runtime.io.registry import (
    ArtifactRefusedError,
    ModelNotFoundError,
    ModelRegistryError,
)
from data_product_runtime.jobs.training import train
from data_product_runtime.settings import Settings


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A tracking server with its own SQLite store and artifact folder; yields (uri, artifacts)."""
    folder = tmp_path_factory.mktemp("mlflow")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    with (folder / "server.log").open("w") as log:
        server = subprocess.Popen(
            [
                sys.executable, "-m", "mlflow", "server",
                "--backend-store-uri", f"sqlite:///{folder / 'store.sqlite'}",
                "--artifacts-destination", str(folder / "artifacts"),
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            _wait_until_healthy(uri, server, folder / "server.log")
            yield uri, folder / "artifacts"
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_until_healthy(uri: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):  # noqa: S310
                return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start:\n{log.read_text()}")
            time.sleep(0.5)


@pytest.fixture
def settings(project: Project, mlflow_server: tuple[str, Path]) -> Settings:
    """Settings for a registered model of this test's own (tests never share versions)."""
    return project.settings(
        registry_backend="mlflow",
        mlflow_tracking_uri=mlflow_server[0],
        mlflow_model_name=f"test-{uuid4().hex[:8]}",
    )


def _registry(settings: Settings) -> MlflowModelRegistry:
    return MlflowModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_model_name)


def test_a_trained_model_round_trips_through_mlflow(
    project: Project, settings: Settings, bundled: Dataset
) -> None:
    metadata = train(project, settings)
    registry = _registry(settings)
    assert registry.versions() == [metadata.version]
    assert registry.aliases() == {"candidate": metadata.version}
    model = registry.load("candidate")
    assert model.metadata == metadata
    (first,) = model.predict(bundled.features[:1])
    assert first.value == model.pipeline.predict(bundled.features[:1])[0]
    mlflow_model = MlflowClient(settings.mlflow_tracking_uri).get_registered_model(
        settings.mlflow_model_name
    )
    assert set(mlflow_model.aliases) == {"candidate"}


def test_promotion_rollback_and_history_live_in_mlflow(
    project: Project, settings: Settings
) -> None:
    first, second = train(project, settings).version, train(project, settings).version
    registry = _registry(settings)
    registry.promote(first, "production", actor="alice")
    registry.promote(second, "production", actor="bob")
    registry.rollback("production", actor="carol")
    assert registry.resolve("production") == first
    assert [
        (m.version, m.actor, m.kind) for m in registry.history() if m.alias == "production"
    ] == [
        (first, "alice", "promote"),
        (second, "bob", "promote"),
        (first, "carol", "rollback"),
    ]
    client = MlflowClient(settings.mlflow_tracking_uri)
    mlflow_version = client.get_model_version_by_alias(settings.mlflow_model_name, "production")
    assert mlflow_version.tags["version_id"] == first


def test_a_tampered_artifact_in_the_store_is_refused(
    project: Project, settings: Settings, mlflow_server: tuple[str, Path]
) -> None:
    victim, bystander = train(project, settings).version, train(project, settings).version
    registry = _registry(settings)
    run_id = registry._model_versions()[victim].run_id  # the file to damage
    (stored,) = mlflow_server[1].glob(f"**/{run_id}/**/model.skops")
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    with pytest.raises(ArtifactRefusedError, match="but the registry recorded"):
        registry.load(victim)
    assert registry.load(bystander).version == bystander


def test_unknown_versions_and_empty_models_are_reported(
    project: Project, settings: Settings
) -> None:
    registry = _registry(settings)
    with pytest.raises(ModelNotFoundError, match="no trained model in MLflow model"):
        registry.load()
    train(project, settings)
    with pytest.raises(ModelNotFoundError, match="no model version or alias 'nope'"):
        registry.load("nope")


def test_an_unreachable_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    registry = MlflowModelRegistry(f"http://127.0.0.1:{closed_port}", "nowhere")
    with pytest.raises(ModelRegistryError, match="cannot list MLflow model 'nowhere'"):
        registry.versions()
