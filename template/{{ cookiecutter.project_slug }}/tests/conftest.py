"""Shared fixtures: one model is trained per test session and reused read-only."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.core.dataset import Dataset
from {{ cookiecutter.package_name }}.core.model import Model, ModelMetadata
from {{ cookiecutter.package_name }}.core.routing import RoutingConfig
from {{ cookiecutter.package_name }}.io.datasets import load_bundled
from {{ cookiecutter.package_name }}.io.local_registry import LocalModelRegistry
from {{ cookiecutter.package_name }}.jobs.training import train
from {{ cookiecutter.package_name }}.service.app import ServiceConfig, create_app
from {{ cookiecutter.package_name }}.service.state import StateBuilder
from {{ cookiecutter.package_name }}.settings import Settings


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never see the developer's .env, models/ or {{ cookiecutter.package_name | upper }}_* variables."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("workdir"))
        for name in list(os.environ):
            if name.startswith("{{ cookiecutter.package_name | upper }}_"):
                patch.delenv(name)
{%- if cookiecutter.registry == 'mlflow' %}
        # The embedded registry, unless a test asks for the MLflow server it starts.
        patch.setenv("{{ cookiecutter.package_name | upper }}_REGISTRY_BACKEND", "local")
{%- endif %}
        yield


@pytest.fixture(scope="session")
def bundled() -> Dataset:
    return load_bundled()


@pytest.fixture(scope="session")
def registry_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registry")


@pytest.fixture(scope="session")
def trained(registry_dir: Path) -> ModelMetadata:
    return train(Settings(model_dir=registry_dir))


@pytest.fixture(scope="session")
def model(registry_dir: Path, trained: ModelMetadata) -> Model:
    return LocalModelRegistry(registry_dir).load(trained.version)


def serve(registry_dir: Path, routing: RoutingConfig | None = None, **config: Any) -> TestClient:
    """A test client of the service over a registry folder, with optional routing."""
    builder = StateBuilder(
        LocalModelRegistry(registry_dir),
        routing_file=None,
        routing_json=routing.model_dump_json() if routing else None,
        default_model=None,
        drift_window=200,
    )
    return TestClient(create_app(builder, ServiceConfig(**config)))


@pytest.fixture(scope="session")
def client(registry_dir: Path, trained: ModelMetadata) -> Iterator[TestClient]:
    with serve(registry_dir, max_body_bytes=4096) as test_client:
        assert test_client.get("/models").json()[0]["model_version"] == trained.version
        yield test_client


@pytest.fixture
def record(bundled: Dataset) -> dict[str, float]:
    """A valid /predict record: the first row of the bundled data."""
    return {
        name: float(value)
        for name, value in zip(bundled.feature_names, bundled.features[0], strict=True)
    }
