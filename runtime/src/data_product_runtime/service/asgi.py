"""The application built from a project's settings, for ASGI servers that import it."""

import os

from fastapi import FastAPI
from threadpoolctl import threadpool_limits

from data_product_runtime.io.registries import open_registry
from data_product_runtime.project import Project, project_from_environment
from data_product_runtime.service.app import ServiceConfig, create_app
from data_product_runtime.service.auth import read_token
from data_product_runtime.service.logs import configure_logging
from data_product_runtime.service.prediction_log import PredictionLog
from data_product_runtime.service.state import StateBuilder
from data_product_runtime.settings import Settings


def app_from_settings(project: Project, settings: Settings | None = None) -> FastAPI:
    """Load what the settings say to serve; raises when there is nothing to serve yet."""
    # One thread per worker for OpenMP and BLAS: each request is small, and several workers
    # each starting a pool on every core oversubscribe them (set before the libraries load).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    settings = settings or project.settings()
    configure_logging(settings.log_level)
    builder = StateBuilder(
        open_registry(settings),
        settings.routing_file,
        settings.routing,
        settings.model_version,
        settings.drift_window,
    )
    config = ServiceConfig(
        max_body_bytes=settings.max_body_bytes,
        max_batch_records=settings.max_batch_records,
        request_timeout_seconds=settings.request_timeout_seconds,
        reload_interval_seconds=settings.reload_interval_seconds,
        prediction_log=PredictionLog(settings.prediction_log),
        body_timeout_seconds=settings.body_timeout_seconds,
        admin_token=read_token(
            settings.admin_token.get_secret_value() if settings.admin_token else None,
            settings.admin_token_file,
        ),
    )
    app = create_app(
        builder,
        config,
        title=project.title,
        description=project.description,
        version=project.version,
    )
    threadpool_limits(int(os.environ["OMP_NUM_THREADS"]))  # the libraries loaded already
    return app


def app_from_environment() -> FastAPI:
    """The app of the project a parent process exported: the factory each worker calls."""
    return app_from_settings(project_from_environment())
