"""What differs between problem types, in one object per type.

A model's metadata records its ``problem_type``; :func:`problem_for` turns that one value into
the object that knows the type's outputs, metrics, naive baseline, monitored score, the shape
of a prediction and of a batch result. Nothing else in the runtime branches on the type.
"""

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from data_product_runtime.core.dataset import Dataset, to_identifier

ProblemType = Literal["classification", "regression"]
Label = str | int | float


def as_label(label: Any) -> Label:
    """A plain Python label from a numpy scalar, so that it serialises to JSON."""
    plain = label.item() if isinstance(label, np.generic) else label
    if isinstance(plain, bool) or not isinstance(plain, str | int | float):
        return str(plain)
    return plain


class Problem(ABC):
    """The behaviour of one problem type; stateless, one instance per type."""

    name: ClassVar[ProblemType]
    # The metric that decides whether one model is better than another (higher is better).
    primary_metric: ClassVar[str]
    # Buckets of the monitored score's histogram in /metrics.
    score_buckets: ClassVar[tuple[float, ...]]
    # Metrics where smaller is better (errors, losses); every other metric grows with quality.
    lower_is_better: ClassVar[frozenset[str]] = frozenset()

    def better_when(self, metric: str) -> str:
        """Which way ``metric`` improves: "higher" or "lower"."""
        return "lower" if metric in self.lower_is_better else "higher"

    def gain(self, metric: str, value: float, reference: float) -> float:
        """How much better ``value`` is than ``reference`` on ``metric`` (negative: worse)."""
        return reference - value if metric in self.lower_is_better else value - reference

    @abstractmethod
    def outputs(self, pipeline: Any, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        """scikit-learn's own outputs for rows, class probabilities (2-d) or values (1-d): the
        reference that the fast prediction path (``core.predictor``) is checked against."""

    @abstractmethod
    def classes(self, pipeline: Any) -> tuple[Label, ...] | None:
        """The labels a classifier predicts, in the order of its probability columns."""

    @abstractmethod
    def stratify(self, dataset: Dataset) -> NDArray[Any] | None:
        """What the train/test split keeps in proportion, if anything."""

    @abstractmethod
    def metrics(
        self, outputs: NDArray[np.float64], classes: tuple[Label, ...] | None, target: NDArray[Any]
    ) -> dict[str, float]:
        """Metrics of a model's outputs on held-out rows against their target."""

    @abstractmethod
    def baseline(self) -> Any:
        """The naive estimator every model must beat, ignoring the features."""

    @abstractmethod
    def scores(self, outputs: NDArray[np.float64]) -> NDArray[np.float64]:
        """The one number per prediction whose distribution is monitored."""

    @abstractmethod
    def predictions(
        self, outputs: NDArray[np.float64], classes: tuple[Label, ...] | None
    ) -> list[dict[str, Any]]:
        """Outputs as the service answers them, one dictionary per row."""

    @abstractmethod
    def result_columns(
        self, outputs: NDArray[np.float64], classes: tuple[Label, ...] | None
    ) -> dict[str, pa.Array]:
        """Outputs as batch scoring writes them (``prediction`` first)."""

    def empty_outputs(self, classes: tuple[Label, ...] | None) -> NDArray[np.float64]:
        """The outputs of no rows, shaped as those of some rows."""
        return np.empty((0, len(classes or ())))


class Classification(Problem):
    """Labels with a probability for each class; ROC AUC decides."""

    name = "classification"
    primary_metric = "roc_auc"
    lower_is_better = frozenset({"log_loss"})
    score_buckets = tuple(round(0.1 * step, 1) for step in range(1, 10))

    def outputs(self, pipeline: Any, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(pipeline.predict_proba(rows), dtype=np.float64)

    def classes(self, pipeline: Any) -> tuple[Label, ...]:
        return tuple(as_label(label) for label in pipeline.classes_)

    def stratify(self, dataset: Dataset) -> NDArray[Any]:
        return dataset.target

    def metrics(
        self, outputs: NDArray[np.float64], classes: tuple[Label, ...] | None, target: NDArray[Any]
    ) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score  # noqa: PLC0415

        labels = np.asarray(classes or ())
        predicted = labels[outputs.argmax(axis=1)]
        if len(labels) == 2:  # noqa: PLR2004  (binary: ROC AUC of the positive class)
            roc_auc = roc_auc_score(target == labels[1], outputs[:, 1])
        else:
            roc_auc = roc_auc_score(target, outputs, multi_class="ovr", labels=labels)
        return {
            "accuracy": float(accuracy_score(target, predicted)),
            "roc_auc": float(roc_auc),
            "f1": float(f1_score(target, predicted, average="macro")),
            # Scaled to sum to one as log_loss would (float32 libraries such as XGBoost miss
            # it by 1e-7), without its warning.
            "log_loss": float(
                log_loss(target, outputs / outputs.sum(axis=1, keepdims=True), labels=labels)
            ),
        }

    def baseline(self) -> Any:
        from sklearn.dummy import DummyClassifier  # noqa: PLC0415

        return DummyClassifier(strategy="prior")

    def scores(self, outputs: NDArray[np.float64]) -> NDArray[np.float64]:
        """The probability of the positive class (binary) or of the predicted class."""
        if outputs.shape[1] == 2:  # noqa: PLR2004
            return outputs[:, 1]
        return np.asarray(outputs.max(axis=1))

    def predictions(
        self, outputs: NDArray[np.float64], classes: tuple[Label, ...] | None
    ) -> list[dict[str, Any]]:
        labels = classes or ()
        names = [str(label) for label in labels]
        return [
            {
                "prediction": labels[int(row.argmax())],
                "probabilities": dict(zip(names, row.tolist(), strict=True)),
            }
            for row in outputs
        ]

    def result_columns(
        self, outputs: NDArray[np.float64], classes: tuple[Label, ...] | None
    ) -> dict[str, pa.Array]:
        from data_product_runtime.core.scoring import from_numpy, from_texts  # noqa: PLC0415

        known = np.asarray(classes or ())
        labels = (
            from_texts([str(label) for label in known])
            if known.dtype.kind in "OU"
            else from_numpy(known)
        )
        columns = {"prediction": labels.take(from_numpy(outputs.argmax(axis=1)))}
        for position, label in enumerate(known):
            name = f"probability_{to_identifier(str(label))}"
            columns[name] = from_numpy(outputs[:, position].astype(np.float64))
        return columns


class Regression(Problem):
    """One value per row; R² decides."""

    name = "regression"
    primary_metric = "r2"
    lower_is_better = frozenset({"rmse", "mae"})
    # The monitored score is the predicted value: adjust these to its range.
    score_buckets = (25.0, 50.0, 75.0, 100.0, 150.0, 200.0, 250.0, 300.0)

    def outputs(self, pipeline: Any, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(pipeline.predict(rows), dtype=np.float64)

    def classes(self, pipeline: Any) -> None:  # noqa: ARG002
        return None

    def stratify(self, dataset: Dataset) -> None:  # noqa: ARG002
        return None

    def metrics(
        self,
        outputs: NDArray[np.float64],
        classes: tuple[Label, ...] | None,  # noqa: ARG002
        target: NDArray[Any],
    ) -> dict[str, float]:
        from sklearn.metrics import (  # noqa: PLC0415
            mean_absolute_error,
            r2_score,
            root_mean_squared_error,
        )

        return {
            "rmse": float(root_mean_squared_error(target, outputs)),
            "mae": float(mean_absolute_error(target, outputs)),
            "r2": float(r2_score(target, outputs)),
        }

    def baseline(self) -> Any:
        from sklearn.dummy import DummyRegressor  # noqa: PLC0415

        return DummyRegressor(strategy="mean")

    def scores(self, outputs: NDArray[np.float64]) -> NDArray[np.float64]:
        """The predicted value."""
        return outputs

    def predictions(
        self,
        outputs: NDArray[np.float64],
        classes: tuple[Label, ...] | None,  # noqa: ARG002
    ) -> list[dict[str, Any]]:
        return [{"prediction": value} for value in outputs.tolist()]

    def result_columns(
        self,
        outputs: NDArray[np.float64],
        classes: tuple[Label, ...] | None,  # noqa: ARG002
    ) -> dict[str, pa.Array]:
        from data_product_runtime.core.scoring import from_numpy  # noqa: PLC0415

        return {"prediction": from_numpy(np.asarray(outputs, dtype=np.float64))}

    def empty_outputs(self, classes: tuple[Label, ...] | None) -> NDArray[np.float64]:  # noqa: ARG002
        return np.empty(0)


PROBLEMS: dict[str, Problem] = {
    problem.name: problem for problem in (Classification(), Regression())
}


def problem_for(name: str) -> Problem:
    """The problem object for a recorded ``problem_type``."""
    try:
        return PROBLEMS[name]
    except KeyError:
        known = ", ".join(sorted(PROBLEMS))
        msg = f"unknown problem type '{name}' (known: {known})"
        raise ValueError(msg) from None
