"""Request and response bodies as pydantic models: the contract the OpenAPI schema publishes."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from data_product_runtime.core.dataset import Feature, FeatureKind
from data_product_runtime.core.problems import Label

# Strict: "1.5" (a string) and true (a boolean) are not numbers; NaN and infinity are refused.
_NUMBER = Annotated[float, Field(strict=True, allow_inf_nan=False)]
_INTEGER = Annotated[int, Field(strict=True)]
_KINDS: dict[FeatureKind, Any] = {
    FeatureKind.NUMBER: _NUMBER,
    FeatureKind.INTEGER: _INTEGER,
    FeatureKind.BOOLEAN: Annotated[bool, Field(strict=True)],
    FeatureKind.CATEGORICAL: str,
    FeatureKind.DATETIME: datetime,
}


class RoutingFields(BaseModel):
    """What every prediction request may add to its records."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="Sticky routing key: the same key always gets the same variant.",
    )
    variant: str | None = Field(
        None, min_length=1, max_length=128, description="Ask for a variant by name."
    )


def _field(feature: Feature) -> tuple[Any, Any]:
    kind = _KINDS[feature.kind]
    description = None
    if feature.categories is not None:
        description = f"One of the training categories ({', '.join(feature.categories[:20])}"
        description += ", ...)" if len(feature.categories) > 20 else ")"  # noqa: PLR2004
        description += "; any other is accepted as unseen."
    if feature.optional:
        return kind | None, Field(None, alias=feature.name, description=description)
    return kind, Field(alias=feature.name, description=description)


def features_model(features: tuple[Feature, ...], keys: tuple[str, ...] = ()) -> type[BaseModel]:
    """Exactly the model's features, each of its kind; optional ones may be null or absent.
    The row's key columns may come along: they are logged, never features."""
    fields: dict[str, Any] = {
        f"feature_{position}": _field(feature) for position, feature in enumerate(features)
    }
    fields.update(
        {
            f"key_{position}": (str | int | None, Field(None, alias=name))
            for position, name in enumerate(keys)
        }
    )
    return create_model("Features", __config__=ConfigDict(extra="forbid"), **fields)


def request_model(features: tuple[Feature, ...], keys: tuple[str, ...] = ()) -> type[BaseModel]:
    """``{"features": {...}}``, optionally with a routing key or a variant."""
    return create_model(
        "PredictRequest",
        __base__=RoutingFields,
        features=(features_model(features, keys), Field(...)),
    )


def batch_request_model(
    features: tuple[Feature, ...], keys: tuple[str, ...] = ()
) -> type[BaseModel]:
    """``{"records": [{...}, ...]}``, optionally with a routing key or a variant."""
    record: Any = features_model(features, keys)
    return create_model(
        "BatchPredictRequest",
        __base__=RoutingFields,
        records=(list[record], Field(..., min_length=1)),
    )


class Prediction(BaseModel):
    prediction: Label
    probabilities: dict[str, float] | None = Field(
        None, description="The probability of each class (classifiers only)."
    )


class PredictResponse(Prediction):
    """One prediction, with the model version and variant that made it and the request it answers."""

    model_version: str
    variant: str
    request_id: str


class BatchPredictResponse(BaseModel):
    predictions: list[Prediction]
    model_version: str
    variant: str
    request_id: str


class ValidationProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorResponse(BaseModel):
    detail: list[ValidationProblem]


class HealthResponse(BaseModel):
    status: str


class ServedModelInfo(BaseModel):
    variant: str
    role: str
    weight: float | None
    model_version: str
    created_at: str
    metrics: dict[str, float]
    features: list[str]
    prediction: str = Field(
        description="How outputs are computed: arithmetic (every step as numpy arithmetic), "
        "compiled (every step, the trees by treelite, checked at training), partly compiled, "
        "or pipeline (scikit-learn's own code)."
    )
