"""Fixtures of the runtime's tests: each test runs for both example projects (classification
and regression); one model per project is trained per session and reused read-only."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from starlette.types import ASGIApp

from data_product_runtime import Project
from data_product_runtime.cli import common
from data_product_runtime.cli.common import use_project
from data_product_runtime.core.dataset import Dataset
from data_product_runtime.core.model import Model, ModelMetadata
from data_product_runtime.core.routing import RoutingConfig
from data_product_runtime.io.local_registry import LocalModelRegistry
from data_product_runtime.jobs.training import train
from data_product_runtime.service.app import ServiceConfig, create_app
from data_product_runtime.service.protocol import PROTOCOL
from data_product_runtime.service.state import StateBuilder
from data_product_runtime.settings import Settings
from example_projects import ENV_PREFIX, PROJECTS


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never see a developer's .env, models/ or EXAMPLE_* variables."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("workdir"))
        for name in list(os.environ):
            if name.startswith(ENV_PREFIX):
                patch.delenv(name)
        yield


@pytest.fixture(scope="session", params=sorted(PROJECTS))
def problem_type(request: pytest.FixtureRequest) -> str:
    """Each test that uses a project runs once per problem type."""
    return str(request.param)


@pytest.fixture(scope="session")
def project(problem_type: str) -> Project:
    return PROJECTS[problem_type]


@pytest.fixture(autouse=True)
def _commands_use_the_project(request: pytest.FixtureRequest) -> None:
    """The CLI commands act for the test's project (classification unless it asks)."""
    name = (
        request.getfixturevalue("problem_type")
        if "problem_type" in request.fixturenames
        else "classification"
    )
    use_project(PROJECTS[name])


@pytest.fixture
def terminal_80(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands print as to a terminal 80 columns wide."""
    monkeypatch.setattr(common, "stdout_is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "80")


@pytest.fixture(scope="session")
def classification() -> Project:
    return PROJECTS["classification"]


@pytest.fixture(scope="session")
def bundled(project: Project) -> Dataset:
    return project.dataset(project.settings())[0]


@pytest.fixture(scope="session")
def registry_dir(tmp_path_factory: pytest.TempPathFactory, problem_type: str) -> Path:
    return tmp_path_factory.mktemp(f"registry-{problem_type}")


@pytest.fixture(scope="session")
def trained(project: Project, registry_dir: Path) -> ModelMetadata:
    return train(project, project.settings(model_dir=registry_dir))


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


@contextmanager
def live_server(app: ASGIApp, **config: Any) -> Iterator[tuple[str, int]]:
    """A real uvicorn server on the loopback with the service's protocol, as `serve` starts it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = uvicorn.Config(app, port=port, http=PROTOCOL, log_level="error", **config)
    server = uvicorn.Server(settings)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def live() -> Callable[..., AbstractContextManager[tuple[str, int]]]:
    """`live_server` for test files (see `server`)."""
    return live_server


@pytest.fixture(scope="session")
def server() -> Callable[..., TestClient]:
    """`serve` for test files: mypy resolves `from conftest import` to tests/conftest.py."""
    return serve


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


__all__ = ["Settings", "serve"]
