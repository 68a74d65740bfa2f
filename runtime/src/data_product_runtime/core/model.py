"""A trained model: the fitted pipeline, what is known about it, and how it predicts."""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from data_product_runtime.core.dataset import Feature
from data_product_runtime.core.drift import DriftReference
from data_product_runtime.core.portable import PortableForm
from data_product_runtime.core.predictor import Implementation, Predictor, build_predictor
from data_product_runtime.core.problems import Label, Problem, ProblemType, problem_for


class DataFingerprint(BaseModel):
    """Which data a model was trained on, without keeping the data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    rows: int
    sha256: str


class TrainingReport(BaseModel):
    """Everything training learns about a model, before it is stored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    problem_type: ProblemType
    features: tuple[Feature, ...] = Field(min_length=1)
    # Columns that name rows: carried into results, quarantine and the prediction log.
    keys: tuple[str, ...] = ()
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
    # How the service and evaluation compute its outputs (core.predictor), known at training.
    prediction: Implementation | None = None
    # Trees predict through treelite: its outputs matched the estimator's on held-out rows.
    compiled_trees: bool = False
    # Largest difference between those outputs and the pipeline's there (0: exactly equal).
    prediction_difference: float | None = None


class ModelMetadata(TrainingReport):
    """A stored model version: the training report plus identity and provenance."""

    version: str
    created_at: datetime
    package_version: str
    git_commit: str | None = None
    library_versions: dict[str, str]
    artifact_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    # Digest of all the fields above (artifact_sha256 included): it covers everything the model
    # predicts with, the portable numbers, the schema and the categories as much as the artifact.
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(feature.name for feature in self.features)

    def digest(self) -> str:
        """The sha256 that ``sha256`` must hold: over the canonical JSON of every other field."""
        return hashlib.sha256(self.model_dump_json(exclude={"sha256"}).encode()).hexdigest()

    def sealed(self) -> "ModelMetadata":
        """This metadata with its digest recorded."""
        return self.model_copy(update={"sha256": self.digest()})


@dataclass(frozen=True)
class Prediction:
    """One model output: the prediction and, for a classifier, the probability of each class."""

    value: Label
    probabilities: dict[str, float] | None = None


@dataclass(frozen=True)
class Model:
    """A fitted pipeline together with its metadata."""

    pipeline: Any
    metadata: ModelMetadata

    @property
    def version(self) -> str:
        return self.metadata.version

    @property
    def problem(self) -> Problem:
        return problem_for(self.metadata.problem_type)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its predictor (Spark ships models so): built again where used."""
        return {name: value for name, value in self.__dict__.items() if name != "predictor"}

    @cached_property
    def predictor(self) -> Predictor:
        """The one prediction path of this model (see ``core.predictor``)."""
        return build_predictor(
            self.pipeline,
            classifier=self.metadata.problem_type == "classification",
            trees=self.metadata.compiled_trees,
        )

    def outputs(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        """Class probabilities or values for a matrix whose columns follow ``metadata.features``."""
        return self.predictor.outputs(rows)

    def predict(self, rows: NDArray[np.float64]) -> list[Prediction]:
        """Predict for a matrix whose columns follow ``metadata.features``."""
        answers = self.problem.predictions(self.outputs(rows), self.metadata.classes)
        return [Prediction(answer["prediction"], answer.get("probabilities")) for answer in answers]
