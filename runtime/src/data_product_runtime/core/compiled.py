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

from data_product_runtime.core.portable import (
    LinearOutput,
    Operation,
    PortableForm,
    output_functions,
    transform_function,
)

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


def _steps(model: Any) -> list[tuple[str, Any]]:
    steps = list(model.steps) if isinstance(model, Pipeline) else [("model", model)]
    return [(name, step) for name, step in steps if step is not None and step != "passthrough"]


def compile_pipeline(model: Any) -> CompiledPredictor:
    """A predictor equal to ``model`` (a fitted Pipeline or estimator), as fast as it can be made."""
    *inner, (name, estimator) = _steps(model)
    transforms: list[Transform] = []
    compiled: list[str] = []
    fallback: list[str] = []
    for step_name, step in inner:
        operations = _operations(step)
        (compiled if operations is not None else fallback).append(step_name)
        transforms.append(
            transform_function(operations)
            if operations is not None
            else _checked_off(step.transform)
        )

    def transform(rows: Matrix) -> Matrix:
        for step in transforms:
            rows = step(rows)
        return rows

    predict: Callable[[Matrix], NDArray[Any]] | None = None
    predict_proba: Callable[[Matrix], Matrix] | None = None
    if (output := _linear_output(estimator)) is not None:
        predict, predict_proba = output_functions(output, getattr(estimator, "classes_", None))
        compiled.append(name)
    else:
        fallback.append(name)
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


def portable_form(model: Any) -> PortableForm | None:
    """The model as data, when every step has a portable form (else None)."""
    *inner, (_, estimator) = _steps(model)
    operations: list[Operation] = []
    for _, step in inner:
        step_operations = _operations(step)
        if step_operations is None:
            return None
        operations += step_operations
    output = _linear_output(estimator)
    if output is None:
        return None
    classes = getattr(estimator, "classes_", None)
    return PortableForm(
        transforms=tuple(operations),
        output=output,
        classes=None if classes is None else tuple(np.asarray(classes).tolist()),
    )


def _checked_off(method: Callable[[Matrix], Any]) -> Callable[[Matrix], Any]:
    """The step's own method, without scikit-learn's per-call input and parameter checks."""

    def call(rows: Matrix) -> Any:
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return method(rows)

    return call


def _values(array: Any) -> tuple[float, ...]:
    return tuple(float(value) for value in np.ravel(array))


def _operations(step: Any) -> tuple[Operation, ...] | None:
    """The step's arithmetic, in scikit-learn's order of operations; None when unknown."""
    if type(step) is StandardScaler:
        operations = []
        if step.with_mean:
            operations.append(Operation(kind="subtract", values=_values(step.mean_)))
        if step.with_std:
            operations.append(Operation(kind="divide", values=_values(step.scale_)))
        return tuple(operations)
    if type(step) is MinMaxScaler and not step.clip:
        return (
            Operation(kind="multiply", values=_values(step.scale_)),
            Operation(kind="add", values=_values(step.min_)),
        )
    if (
        type(step) is SimpleImputer
        and not step.add_indicator
        and isinstance(step.missing_values, float)
        and np.isnan(step.missing_values)
        and not np.isnan(step.statistics_).any()  # columns dropped for being all-missing
    ):
        return (Operation(kind="fill_missing", values=_values(step.statistics_)),)
    return None


def _linear_output(estimator: Any) -> LinearOutput | None:
    if type(estimator) is LogisticRegression:
        coefficients = np.asarray(estimator.coef_, dtype=np.float64).T
        return LinearOutput(
            coefficients=tuple(_values(row) for row in coefficients),
            intercept=_values(estimator.intercept_),
            link="logistic" if len(estimator.classes_) == 2 else "softmax",  # noqa: PLR2004
        )
    if (
        type(estimator) in {LinearRegression, Ridge, Lasso, ElasticNet}
        and np.ndim(estimator.coef_) == 1
    ):
        return LinearOutput(
            coefficients=tuple((float(value),) for value in estimator.coef_),
            intercept=(float(estimator.intercept_),),
            link="identity",
        )
    return None
