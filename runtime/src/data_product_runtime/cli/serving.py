"""Serving commands."""

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr

from data_product_runtime.cli.common import (
    ModelDirOption,
    current_project,
    fail,
    load_settings,
    user_errors,
)


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind to.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="Version or alias to serve (default: production, else the newest)."
        ),
    ] = None,
    routing: Annotated[
        Path | None, typer.Option(help="JSON file of A/B variants and shadow models.")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Service processes (default: 1).")] = None,
    model_dir: ModelDirOption = None,
) -> None:
    """Serve models over HTTP: /predict, /predict/batch, /health, /ready, /models, /metrics, /docs."""
    settings = load_settings(
        host=host,
        port=port,
        model_version=model,
        routing_file=routing,
        workers=workers,
        model_dir=model_dir,
    )
    project = current_project()
    with user_errors():
        import uvicorn

        from data_product_runtime.io.registry import ModelRegistryError
        from data_product_runtime.service.asgi import app_from_settings
        from data_product_runtime.service.auth import AdminTokenError
        from data_product_runtime.service.protocol import HEADER_TIMEOUT_VARIABLE, PROTOCOL
        from data_product_runtime.service.state import RoutingError

        try:
            # Built here even with several workers: a missing model is reported before forking.
            app = app_from_settings(project, settings)
        except (ModelRegistryError, RoutingError, AdminTokenError) as error:
            raise fail(f"cannot serve: {error}") from None
    for variant, served in app.state.holder.current.variants.items():
        typer.echo(f"serving model {served.version} as variant '{variant}'")
    for served in app.state.holder.current.shadows:
        typer.echo(f"scoring model {served.version} in the shadow")
    typer.echo(f"on http://{settings.host}:{settings.port} with {settings.workers} worker(s)")
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,  # every request is in the prediction log and the metrics
        "timeout_graceful_shutdown": 30,
        "limit_concurrency": settings.max_connections,
        "http": PROTOCOL,
    }
    os.environ[HEADER_TIMEOUT_VARIABLE] = str(settings.header_timeout_seconds)
    metrics_prefix = f"{project.name}-metrics-"
    _remove_abandoned_metrics(Path(tempfile.gettempdir()), metrics_prefix)
    if settings.workers == 1:
        uvicorn.run(app, **options)
        return
    # Workers build the app from the environment: pass on what the options changed, and
    # give prometheus_client a folder to add up the workers' metrics in.
    # As the environment spells them: text as it is, anything else (a list, a flag) as JSON.
    for name, dumped in settings.model_dump(mode="json", exclude_unset=True).items():
        secret = getattr(settings, name)
        # A secret is dumped as asterisks: its workers need its value.
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else dumped
        if value is not None:
            text = value if isinstance(value, str) else json.dumps(value)
            os.environ[f"{project.env_prefix}{name.upper()}"] = text
    project.export()
    metrics_dir = tempfile.mkdtemp(prefix=f"{metrics_prefix}{os.getpid()}-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            "data_product_runtime.service.asgi:app_from_environment",
            factory=True,
            workers=settings.workers,
            **options,
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _remove_abandoned_metrics(folder: Path, prefix: str) -> None:
    """Metric folders of services that were killed (their pid is in the name): deleted."""
    from data_product_runtime.io.faults import abandoned

    for leftover in folder.glob(f"{prefix}*-*"):
        if abandoned(leftover.name.removeprefix(prefix).split("-")[0]):
            shutil.rmtree(leftover, ignore_errors=True)
