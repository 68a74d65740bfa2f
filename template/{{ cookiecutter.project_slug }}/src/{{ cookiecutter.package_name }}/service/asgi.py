"""The application built from the settings (environment), for ASGI servers that import it."""

from fastapi import FastAPI

from {{ cookiecutter.package_name }}.io.registries import open_registry
from {{ cookiecutter.package_name }}.service.app import ServiceConfig, create_app
from {{ cookiecutter.package_name }}.service.logs import configure_logging
from {{ cookiecutter.package_name }}.service.prediction_log import PredictionLog
from {{ cookiecutter.package_name }}.service.state import StateBuilder
from {{ cookiecutter.package_name }}.settings import Settings


def app_from_settings(settings: Settings | None = None) -> FastAPI:
    """Load what the settings say to serve; raises when there is nothing to serve yet."""
    settings = settings or Settings()
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
    )
    return create_app(builder, config)
