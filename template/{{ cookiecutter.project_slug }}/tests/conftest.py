"""Shared fixtures: one model is trained per test session and reused read-only."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from data_product_runtime.core.dataset import Dataset
from data_product_runtime.core.model import ModelMetadata
from data_product_runtime.jobs.training import train
from data_product_runtime.service.asgi import app_from_settings

from {{ cookiecutter.package_name }}.project import PROJECT


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never see the developer's .env, models/ or the project's environment variables."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("workdir"))
        for name in list(os.environ):
            if name.startswith(PROJECT.env_prefix):
                patch.delenv(name)
        # The embedded registry: an MLflow server is the runtime's to test.
        patch.setenv(f"{PROJECT.env_prefix}REGISTRY_BACKEND", "local")
        yield


@pytest.fixture(scope="session")
def bundled() -> Dataset:
    """The bundled dataset as the pipeline sees it."""
    return PROJECT.dataset(PROJECT.settings())[0]


@pytest.fixture(scope="session")
def registry_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registry")


@pytest.fixture(scope="session")
def trained(registry_dir: Path) -> ModelMetadata:
    return train(PROJECT, PROJECT.settings(model_dir=registry_dir))


def serve(registry_dir: Path) -> TestClient:
    """A test client of the project's service over a registry folder."""
    return TestClient(app_from_settings(PROJECT, PROJECT.settings(model_dir=registry_dir)))


@pytest.fixture(scope="session")
def client(registry_dir: Path, trained: ModelMetadata) -> Iterator[TestClient]:
    with serve(registry_dir) as test_client:
        assert test_client.get("/models").json()[0]["model_version"] == trained.version
        yield test_client


@pytest.fixture
def record(bundled: Dataset) -> dict[str, float]:
    """A valid /predict record: the first row of the bundled data."""
    return dict(zip(bundled.feature_names, bundled.features[0].tolist(), strict=True))
