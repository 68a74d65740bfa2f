"""Fast prediction for scikit-learn pipelines: the same arithmetic without per-call overhead.

scikit-learn validates and converts its input on every call, which costs far more than the
arithmetic of a small model on one row. ``compile_pipeline`` walks a fitted pipeline and
turns each step it knows (imputers, scalers, linear models) into a few numpy operations on
the fitted parameters; a step it does not know keeps its own ``transform``/``predict`` code,
called with scikit-learn's input checks switched off. The result is always the same
function of the input as the pipeline (tests compare them on held-out data), only faster.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sklearn
from numpy.typing import NDArray
from scipy.special import expit, softmax
from sklearn.impute import SimpleImputer
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

Matrix = NDArray[np.float64]
Transform = Callable[[Matrix], Matrix]


@dataclass(frozen=True)
class CompiledPredictor:
    """``predict`` gives point predictions; ``predict_proba`` class probabilities (classifiers)."""

    transform: Transform
    predict: Callable[[Matrix], NDArray[Any]]
    predict_proba: Callable[[Matrix], Matrix] | None
    compiled_steps: tuple[str, ...]
    fallback_steps: tuple[str, ...]


def compile_pipeline(model: Any) -> CompiledPredictor:
    """A predictor equal to ``model`` (a fitted Pipeline or estimator), as fast as it can be made."""
    steps = list(model.steps) if isinstance(model, Pipeline) else [("model", model)]
    transforms: list[Transform] = []
    compiled: list[str] = []
    fallback: list[str] = []
    for name, step in steps[:-1]:
        if step is None or step == "passthrough":
            continue
        fast = _compile_transform(step)
        (compiled if fast else fallback).append(name)
        transforms.append(fast or _checked_off(step.transform))
    name, estimator = steps[-1]

    def transform(rows: Matrix) -> Matrix:
        for step in transforms:
            rows = step(rows)
        return rows

    predict, predict_proba = _compile_estimator(estimator)
    (compiled if predict else fallback).append(name)
    if predict is None:
        predict = _checked_off(estimator.predict)
        if hasattr(estimator, "predict_proba"):
            predict_proba = _checked_off(estimator.predict_proba)
    final_predict, final_proba = predict, predict_proba
    return CompiledPredictor(
        transform=transform,
        predict=lambda rows: final_predict(transform(rows)),
        predict_proba=(lambda rows: final_proba(transform(rows))) if final_proba else None,
        compiled_steps=tuple(compiled),
        fallback_steps=tuple(fallback),
    )


def _checked_off(method: Callable[[Matrix], Any]) -> Callable[[Matrix], Any]:
    """The step's own method, without scikit-learn's per-call input and parameter checks."""

    def call(rows: Matrix) -> Any:
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return method(rows)

    return call


def _compile_transform(step: Any) -> Transform | None:
    if type(step) is StandardScaler:
        mean = step.mean_ if step.with_mean else 0.0
        scale = step.scale_ if step.with_std else 1.0
        return lambda rows: (rows - mean) / scale
    if type(step) is MinMaxScaler and not step.clip:
        return lambda rows: rows * step.scale_ + step.min_
    if (
        type(step) is SimpleImputer
        and not step.add_indicator
        and isinstance(step.missing_values, float)
        and np.isnan(step.missing_values)
        and not np.isnan(step.statistics_).any()  # columns dropped for being all-missing
    ):
        statistics = step.statistics_
        return lambda rows: np.where(np.isnan(rows), statistics, rows)
    return None


def _compile_estimator(
    estimator: Any,
) -> tuple[Callable[[Matrix], NDArray[Any]] | None, Callable[[Matrix], Matrix] | None]:
    if type(estimator) is LogisticRegression:
        coefficients, intercept, classes = (
            estimator.coef_.T,
            estimator.intercept_,
            estimator.classes_,
        )
        binary = len(classes) == 2  # noqa: PLR2004

        def probabilities(rows: Matrix) -> Matrix:
            decision = rows @ coefficients + intercept
            if binary:
                both = np.empty((len(decision), 2))
                both[:, 1] = expit(decision[:, 0])
                np.subtract(1.0, both[:, 1], out=both[:, 0])
                return both
            return np.asarray(softmax(decision, axis=1))

        return (lambda rows: classes[probabilities(rows).argmax(axis=1)]), probabilities
    if (
        type(estimator) in {LinearRegression, Ridge, Lasso, ElasticNet}
        and np.ndim(estimator.coef_) == 1
    ):
        coefficients, intercept = estimator.coef_, estimator.intercept_
        return (lambda rows: rows @ coefficients + intercept), None
    return None, None
