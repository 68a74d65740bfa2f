"""A trained model: the fitted pipeline, what is known about it, and how it predicts."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from {{ cookiecutter.package_name }}.core.dataset import Feature
from {{ cookiecutter.package_name }}.core.drift import DriftReference
from {{ cookiecutter.package_name }}.core.portable import PortableForm

Label = str | int | float


class DataFingerprint(BaseModel):
    """Which data a model was trained on, without keeping the data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    rows: int
    sha256: str


class TrainingReport(BaseModel):
    """Everything training learns about a model, before it is stored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    problem_type: Literal["classification", "regression"]
    features: tuple[Feature, ...] = Field(min_length=1)
    target: str
    classes: tuple[Label, ...] | None = None
    hyperparameters: dict[str, Any]
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    training_data: DataFingerprint
    test_data: DataFingerprint
    # Training distributions of the inputs and of the model's score, for drift monitoring.
    input_reference: DriftReference | None = None
    score_reference: DriftReference | None = None
    # The pipeline as numbers, when it has that form and gives exactly its outputs.
    portable: PortableForm | None = None


class ModelMetadata(TrainingReport):
    """A stored model version: the training report plus identity and provenance."""

    version: str
    created_at: datetime
    package_version: str
    git_commit: str | None = None
    library_versions: dict[str, str]
    artifact_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(feature.name for feature in self.features)


@dataclass(frozen=True)
class Prediction:
    """One model output: the prediction{% if cookiecutter.problem_type == 'classification' %} and the probability of each class{% endif %}."""

    value: Label
{%- if cookiecutter.problem_type == 'classification' %}
    probabilities: dict[str, float]
{%- endif %}


def scores(outputs: NDArray[np.float64]) -> NDArray[np.float64]:
    """The one number per prediction whose distribution is monitored: {% if cookiecutter.problem_type == 'classification' %}the probability of
    the positive class (binary) or of the predicted class (several classes){% else %}the predicted value{% endif %}."""
{%- if cookiecutter.problem_type == 'classification' %}
    if outputs.shape[1] == 2:  # noqa: PLR2004
        return outputs[:, 1]
    return np.asarray(outputs.max(axis=1))
{%- else %}
    return outputs
{%- endif %}


@dataclass(frozen=True)
class Model:
    """A fitted pipeline together with its metadata."""

    pipeline: Any
    metadata: ModelMetadata

    @property
    def version(self) -> str:
        return self.metadata.version

    def predict(self, rows: NDArray[np.float64]) -> list[Prediction]:
        """Predict for a matrix whose columns follow ``metadata.features``."""
{%- if cookiecutter.problem_type == 'classification' %}
        probabilities = self.pipeline.predict_proba(rows)
        classes = [as_label(label) for label in self.pipeline.classes_]
        return [
            Prediction(
                value=classes[int(row.argmax())],
                probabilities={str(label): float(p) for label, p in zip(classes, row, strict=True)},
            )
            for row in probabilities
        ]
{%- else %}
        return [Prediction(value=float(value)) for value in self.pipeline.predict(rows)]
{%- endif %}
{%- if cookiecutter.problem_type == 'classification' %}


def as_label(label: Any) -> Label:
    """A plain Python label from a numpy scalar, so that it serialises to JSON."""
    plain = label.item() if isinstance(label, np.generic) else label
    if isinstance(plain, bool) or not isinstance(plain, str | int | float):
        return str(plain)
    return plain
{%- endif %}
