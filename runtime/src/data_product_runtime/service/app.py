"""The HTTP service: fast prediction endpoints, and FastAPI for everything around them.

``/predict`` and ``/predict/batch`` are plain ASGI handlers: they parse with orjson, check
the record against the features in one loop, and predict with the compiled pipeline
(core/compiled.py). Health, readiness, model listing, reloads, metrics and the OpenAPI
documentation are ordinary FastAPI routes.
"""

import asyncio
import hashlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import numpy as np
import orjson
import structlog
from fastapi import Depends, FastAPI, HTTPException, Response
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from numpy.typing import NDArray
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from data_product_runtime.service.auth import admin_guard
from data_product_runtime.service.limits import BodySizeLimitMiddleware
from data_product_runtime.service.monitoring import (
    CONTENT_TYPE,
    NO_MODEL,
    MetricsMiddleware,
    ServiceMetrics,
)
from data_product_runtime.service.openapi import add_prediction_paths
from data_product_runtime.service.prediction_log import PredictionLog
from data_product_runtime.service.schemas import HealthResponse, ServedModelInfo
from data_product_runtime.service.state import ServedModel, StateBuilder, StateHolder
from data_product_runtime.service.validation import ParsedRequest, RequestError, RequestParser

logger = structlog.get_logger(__name__)
# Request ids: unique per process (random prefix) and cheap (a counter, no system call).
_ID_PREFIX = uuid4().hex[:12] + "-"
_ID_COUNTER = itertools.count(1)
_MAX_REQUEST_ID = 128  # as the OpenAPI schema says
# The API pages may load from this service only: ReDoc's bundle shows its maker's logo from
# cdn.redoc.ly, which air-gapped networks cannot reach and no page of the service should ask.
API_PAGES = ("/docs", "/redoc")  # Swagger UI and ReDoc, with their assets from the service
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:"
)


class ServiceConfig:
    """The service's own knobs (the rest of the settings concern training)."""

    def __init__(
        self,
        *,
        max_body_bytes: int = 1_000_000,
        max_batch_records: int = 10_000,
        request_timeout_seconds: float = 5.0,
        reload_interval_seconds: float = 0.0,
        prediction_log: PredictionLog | None = None,
        admin_token: str | None = None,
        body_timeout_seconds: float = 30.0,
    ) -> None:
        self.max_body_bytes = max_body_bytes
        self.max_batch_records = max_batch_records
        self.request_timeout_seconds = request_timeout_seconds
        self.reload_interval_seconds = reload_interval_seconds
        self.prediction_log = prediction_log or PredictionLog(None)
        # Bearer token of the admin and metadata endpoints; None refuses them to everyone.
        self.admin_token = admin_token
        self.body_timeout_seconds = body_timeout_seconds


def create_app(
    builder: StateBuilder,
    config: ServiceConfig | None = None,
    *,
    title: str = "Model service",
    description: str = "",
    version: str = "0",
) -> FastAPI:
    """An app serving what ``builder`` loads; raises if that cannot be loaded (no model yet)."""
    config = config or ServiceConfig()
    holder = StateHolder(builder())
    first = next(iter(holder.current.variants.values()))
    metrics = ServiceMetrics(lambda: holder.current, first.model.problem.score_buckets)
    endpoints = PredictionEndpoints(holder, metrics, config)
    config.prediction_log.on_lost = metrics.lost_log_entries.inc

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(_poll(holder, builder, config.reload_interval_seconds)),
            asyncio.create_task(_flush_periodically(config.prediction_log)),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            config.prediction_log.flush()

    app = FastAPIOffline(
        docs_url=API_PAGES[0],
        redoc_url=API_PAGES[1],
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
    )
    _add_management_routes(app, holder, builder, metrics, admin_guard(config.admin_token))
    app.state.holder = holder

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            metadata = next(iter(holder.current.variants.values())).model.metadata
            app.openapi_schema = add_prediction_paths(schema, metadata.features, metadata.keys)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # Innermost first: prediction requests leave FastAPI's stack here, after the size limit
    # and the metrics, which every request passes.
    app.add_middleware(
        FastPathMiddleware,
        handlers={"/predict": endpoints.predict, "/predict/batch": endpoints.predict_batch},
    )
    app.add_middleware(PagePolicyMiddleware, paths=frozenset(API_PAGES))
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=app.routes)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_body_bytes=config.max_body_bytes,
        body_timeout_seconds=config.body_timeout_seconds,
    )
    return app


Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


class FastPathMiddleware:
    """Sends prediction requests straight to their handlers, past FastAPI's routing."""

    def __init__(self, app: ASGIApp, handlers: dict[str, Handler]) -> None:
        self.app = app
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.handlers.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        scope["route_path"] = scope["path"]  # the metrics label, as FastAPI's routes set "route"
        if scope["method"] != "POST":
            await _send_json(send, 405, {"detail": "Method Not Allowed"}, "", allow=b"POST")
            return
        await handler(scope, receive, send)


class PagePolicyMiddleware:
    """Gives the API pages their content security policy (PAGE_POLICY)."""

    def __init__(self, app: ASGIApp, paths: frozenset[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("Content-Security-Policy", PAGE_POLICY)
            await send(message)

        await self.app(scope, receive, send_with_policy)


class PredictionEndpoints:
    """``/predict`` and ``/predict/batch``: validate, route, predict, answer, then monitor."""

    def __init__(self, holder: StateHolder, metrics: ServiceMetrics, config: ServiceConfig) -> None:
        self.holder = holder
        self.metrics = metrics
        self.config = config
        self._parsers: dict[Any, RequestParser] = {}

    async def predict(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._answer(scope, receive, send, batch=False)

    async def predict_batch(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._answer(scope, receive, send, batch=True)

    def _parser(self, served: ServedModel) -> RequestParser:
        # Keyed by identity: hashing the feature schema would cost more than parsing a record.
        key = id(served.model.metadata)
        if key not in self._parsers:
            metadata = served.model.metadata
            self._parsers[key] = RequestParser(
                metadata.features, self.config.max_batch_records, metadata.keys
            )
        return self._parsers[key]

    async def _answer(self, scope: Scope, receive: Receive, send: Send, *, batch: bool) -> None:
        request_id = _header(scope, b"x-request-id") or f"{_ID_PREFIX}{next(_ID_COUNTER):x}"
        if len(request_id) > _MAX_REQUEST_ID:
            message = f"X-Request-ID is longer than {_MAX_REQUEST_ID} characters"
            problem = {"loc": ["header", "X-Request-ID"], "msg": message, "type": "string_too_long"}
            await _send_json(send, 400, {"detail": [problem]}, "")
            return
        state = self.holder.current  # this request finishes on this state, whatever reloads
        timeout = self.config.request_timeout_seconds
        try:
            body = await _read_body(receive)
            parser = self._parser(next(iter(state.variants.values())))
            parsed = parser.batch(body) if batch else parser.single(body)
            variant, served = _route(state.routing, state.variants, parsed)
            scope["served"] = (served.version, variant)
            outputs = await _predict(served, parsed.rows, timeout)
            if not np.isfinite(outputs).all():
                message = "features too far out of range: the model's output is not a finite number"
                raise RequestError(422, [{"loc": ["body"], "msg": message, "type": "value_error"}])
        except RequestError as error:
            self.metrics.errors.labels(
                "invalid_request", *scope.get("served", (NO_MODEL, NO_MODEL))
            ).inc()
            await _send_json(send, error.status, {"detail": error.detail}, request_id)
            return
        except TimeoutError:
            self.metrics.timeouts.labels(*scope["served"]).inc()
            await _send_json(
                send, 504, {"detail": f"prediction took longer than {timeout} s"}, request_id
            )
            return
        predictions = _predictions(served, outputs)
        answer: dict[str, Any] = {"predictions": predictions} if batch else dict(predictions[0])
        answer |= {"model_version": served.version, "variant": variant, "request_id": request_id}
        await _send_json(send, 200, answer, request_id)
        self._monitor(
            served,
            variant,
            "variant",
            parsed.rows,
            outputs,
            predictions=predictions,
            request_id=request_id,
            row_keys=parsed.row_keys,
        )
        for shadow in state.shadows:
            if shadow is served:
                continue
            try:
                shadow_outputs = shadow.outputs(parsed.rows)
            except Exception:  # a shadow model must never affect the answer
                self.metrics.errors.labels("shadow_failed", shadow.version, variant).inc()
                logger.exception(
                    "shadow prediction failed", request_id=request_id, model_version=shadow.version
                )
                continue
            shadow_predictions = _predictions(shadow, shadow_outputs)
            self._monitor(
                shadow,
                variant,
                "shadow",
                parsed.rows,
                shadow_outputs,
                predictions=shadow_predictions,
                request_id=request_id,
                row_keys=parsed.row_keys,
            )

    def _monitor(
        self,
        served: ServedModel,
        variant: str,
        role: str,
        rows: NDArray[np.float64],
        outputs: NDArray[np.float64],
        *,
        predictions: list[dict[str, Any]],
        request_id: str,
        row_keys: list[dict[str, Any]] | None,
    ) -> None:
        """Metrics, drift windows and the prediction log, after the answer has been sent."""
        monitored = served.model.problem.scores(outputs)
        self.metrics.observe_predictions(served, variant, role, monitored)
        if served.input_drift is not None:
            served.input_drift.add(rows)
        if served.score_drift is not None:
            served.score_drift.add(monitored[:, None])
        now = datetime.now(UTC).isoformat()
        self.config.prediction_log.record(
            [
                {
                    "at": now, "request_id": request_id, "row": index, "variant": variant,
                    "role": role, "model_version": served.version,
                    "inputs_sha256": hashlib.sha256(row.tobytes()).hexdigest(), **prediction,
                    **({"keys": row_keys[index]} if row_keys else {}),
                }
                for index, (row, prediction) in enumerate(zip(rows, predictions, strict=True))
            ]
        )  # fmt: skip


_ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong admin token"},
    403: {"description": "Admin endpoints disabled (no admin token set)"},
}


def _add_management_routes(
    app: FastAPI,
    holder: StateHolder,
    builder: StateBuilder,
    metrics: ServiceMetrics,
    require_admin: Callable[..., None],
) -> None:
    admin = [Depends(require_admin)]

    @app.get("/health")
    def health() -> HealthResponse:
        """Liveness: the process is up."""
        return HealthResponse(status="ok")

    @app.get("/ready", responses={503: {"description": "No model loaded"}})
    def ready() -> HealthResponse:
        """Readiness: every variant has a loaded model."""
        if not holder.current.variants:
            raise HTTPException(503, "no model loaded")
        return HealthResponse(status="ready")

    @app.get("/models")
    def served_models() -> list[ServedModelInfo]:
        """What is served: each variant and shadow with its model's metadata."""
        state = holder.current
        weights = {variant.name: variant.weight for variant in state.routing.variants}
        entries: list[tuple[str, str, float | None, ServedModel]] = [
            (name, "variant", weights[name], served) for name, served in state.variants.items()
        ]
        entries += [("shadow", "shadow", None, served) for served in state.shadows]
        return [
            ServedModelInfo(
                variant=name, role=role, weight=weight, model_version=served.version,
                created_at=served.model.metadata.created_at.isoformat(),
                metrics=served.model.metadata.metrics,
                features=list(served.model.metadata.feature_names),
                prediction=served.model.predictor.implementation,
            )
            for name, role, weight, served in entries
        ]  # fmt: skip

    @app.get(
        "/models/{version}",
        dependencies=admin,
        responses={**_ADMIN_RESPONSES, 404: {"description": "Version not served"}},
    )
    def served_model(version: str) -> dict[str, Any]:
        """The full metadata of a served version (training distributions included): admin only."""
        served = holder.current.models.get(version)
        if served is None:
            known = ", ".join(sorted(holder.current.models))
            raise HTTPException(404, f"model version '{version}' is not served (served: {known})")
        return served.model.metadata.model_dump(mode="json")

    @app.post(
        "/admin/reload",
        dependencies=admin,
        responses={**_ADMIN_RESPONSES, 409: {"description": "Reload refused"}},
    )
    async def reload() -> dict[str, str]:
        """Re-read the routing and the registry's aliases; in-flight requests are unaffected."""
        try:
            state = await holder.reload(builder)
        except Exception as error:
            logger.warning("reload refused", error=str(error))
            raise HTTPException(
                409, f"reload refused, still serving the previous models: {error}"
            ) from None
        return {name: served.version for name, served in state.variants.items()}

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)


async def _flush_periodically(log: PredictionLog) -> None:
    """Entries reach the file within about a second even when no request follows them."""
    while True:
        await asyncio.sleep(log.flush_seconds / 2)
        if log.due():
            log.flush()


async def _poll(holder: StateHolder, builder: StateBuilder, interval: float) -> None:
    """Pick up routing and alias changes every ``interval`` seconds (0: only on request)."""
    if interval <= 0:
        return
    while True:
        await asyncio.sleep(interval)
        try:
            await holder.reload(builder)
        except Exception as error:  # keep serving what is loaded; say why the new state was refused
            logger.warning("reload refused", error=str(error))


def _route(
    routing: Any, variants: dict[str, ServedModel], parsed: ParsedRequest
) -> tuple[str, ServedModel]:
    if parsed.variant is not None:
        if parsed.variant not in variants:
            known = ", ".join(variants)
            message = f"unknown variant '{parsed.variant}' (known: {known})"
            raise RequestError(
                422, [{"loc": ["body", "variant"], "msg": message, "type": "unknown_variant"}]
            )
        return parsed.variant, variants[parsed.variant]
    name = routing.assign(parsed.key).name
    return name, variants[name]


# Batches above this many rows are predicted in a worker thread, with the request timeout.
_INLINE_ROWS = 256


async def _predict(
    served: ServedModel, rows: NDArray[np.float64], timeout: float
) -> NDArray[np.float64]:
    if len(rows) <= _INLINE_ROWS:
        return served.outputs(rows)
    return await asyncio.wait_for(asyncio.to_thread(served.outputs, rows), timeout)


def _predictions(served: ServedModel, outputs: NDArray[np.float64]) -> list[dict[str, Any]]:
    return served.model.problem.predictions(outputs, served.model.metadata.classes)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestError(
                400, [{"loc": ["body"], "msg": "client disconnected", "type": "disconnect"}]
            )
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_json(
    send: Send, status: int, payload: Any, request_id: str, allow: bytes | None = None
) -> None:
    body = orjson.dumps(payload)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode("latin-1", "replace")),
    ]
    if allow is not None:
        headers.append((b"allow", allow))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
