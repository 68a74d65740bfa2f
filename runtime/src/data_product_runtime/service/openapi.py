"""The OpenAPI description of the prediction endpoints, built from the served features.

The prediction endpoints are plain ASGI handlers (service/app.py) for speed, so FastAPI
cannot derive their schema; it is built here from pydantic models of the same contract.
"""

from typing import Any

from pydantic import BaseModel

from data_product_runtime.core.dataset import Feature
from data_product_runtime.service.schemas import (
    BatchPredictResponse,
    PredictResponse,
    ValidationErrorResponse,
    batch_request_model,
    request_model,
)

_REF = "#/components/schemas/{model}"


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=_REF)
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def add_prediction_paths(
    openapi: dict[str, Any], features: tuple[Feature, ...], keys: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The schema of the FastAPI routes, with /predict and /predict/batch added."""
    components = openapi.setdefault("components", {}).setdefault("schemas", {})
    errors = {
        "413": {"description": "Request body too large"},
        "422": {
            "description": "Invalid request: each problem names its field",
            "content": {
                "application/json": {"schema": _schema(ValidationErrorResponse, components)}
            },
        },
    }
    endpoints: list[tuple[str, type[BaseModel], type[BaseModel], str]] = [
        ("/predict", request_model(features, keys), PredictResponse, "Predict for one record"),
        (
            "/predict/batch",
            batch_request_model(features, keys),
            BatchPredictResponse,
            "Predict for many records",
        ),
    ]
    for path, request, response, summary in endpoints:
        openapi["paths"][path] = {
            "post": {
                "summary": summary,
                "operationId": path.strip("/").replace("/", "_"),
                "parameters": [
                    {
                        "name": "X-Request-ID",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 128},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _schema(request, components)}},
                },
                "responses": {
                    "200": {
                        "description": "Predictions, with the model version and variant that made them",
                        "content": {"application/json": {"schema": _schema(response, components)}},
                    },
                    **errors,
                },
            }
        }
    return openapi
