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
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MinMaxScaler,
    OneHotEncoder,
    StandardScaler,
)

from data_product_runtime.core.portable import (
    ColumnPart,
    Columns,
    DatePartsStep,
    LinearOutput,
    OneHot,
    Operation,
    PortableForm,
    Step,
    output_functions,
    transform_function,
)
from data_product_runtime.core.transformers import DateParts
from data_product_runtime.core.trees import tree_outputs

Matrix = NDArray[np.float64]
Transform = Callable[[Matrix], Matrix]
# From about this many rows the tree libraries' own predict is faster than GTIL (measured on
# HGB and LightGBM: GTIL about 7.5 us a row, the libraries about 4 us after 0.3-1 ms a call).
TREE_LIBRARY_ROWS = 1000


@dataclass(frozen=True)
class CompiledPredictor:
    """``predict`` gives point predictions; ``predict_proba`` class probabilities (classifiers)."""

    transform: Transform
    predict: Callable[[Matrix], NDArray[Any]]
    predict_proba: Callable[[Matrix], Matrix] | None
    compiled_steps: tuple[str, ...]
    fallback_steps: tuple[str, ...]
    trees: bool = False
    """The estimator's trees run in treelite's interpreter (``core.trees``)."""


def _steps(model: Any) -> list[tuple[str, Any]]:
    steps = list(model.steps) if isinstance(model, Pipeline) else [("model", model)]
    return [(name, step) for name, step in steps if step is not None and step != "passthrough"]


def compile_pipeline(model: Any, *, trees: bool = False) -> CompiledPredictor:
    """A predictor equal to ``model`` (a fitted Pipeline or estimator), as fast as it can be made.

    With ``trees``, a tree ensemble predicts through treelite: the caller has checked (or
    checks now) that its outputs equal the estimator's on held-out rows.
    """
    *inner, (name, estimator) = _steps(model)
    transforms: list[Transform] = []
    compiled: list[str] = []
    fallback: list[str] = []
    for step_name, step in inner:
        step_transform = _transform(step)
        (compiled if step_transform is not None else fallback).append(step_name)
        transforms.append(step_transform or _checked_off(step.transform))

    def transform(rows: Matrix) -> Matrix:
        for step in transforms:
            rows = step(rows)
        return rows

    predict: Callable[[Matrix], NDArray[Any]] | None = None
    predict_proba: Callable[[Matrix], Matrix] | None = None
    classes = getattr(estimator, "classes_", None)
    forest = tree_outputs(estimator, classifier=classes is not None) if trees else None
    if (output := _linear_output(estimator)) is not None:
        predict, predict_proba = output_functions(output, classes)
        compiled.append(name)
    elif forest is not None:
        compiled.append(name)
        library = _checked_off(estimator.predict if classes is None else estimator.predict_proba)

        def trees_outputs(rows: Matrix) -> Matrix:
            # GTIL has no per-call cost but walks each row slower than the library's own
            # compiled code: large batches (batch scoring) go to the library.
            return forest(rows) if len(rows) < TREE_LIBRARY_ROWS else np.asarray(library(rows))

        if classes is None:
            predict = trees_outputs
        else:
            predict_proba, labels = trees_outputs, np.asarray(classes)
            predict = lambda rows: labels[np.argmax(trees_outputs(rows), axis=1)]  # noqa: E731
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
        trees=forest is not None,
    )


def portable_form(model: Any) -> PortableForm | None:
    """The model as data, when every step has a portable form (else None)."""
    *inner, (_, estimator) = _steps(model)
    operations: list[Step] = []
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


def _transform(step: Any) -> Transform | None:
    """The step as numpy code, or None when the runtime does not know it."""
    operations = _operations(step)
    return transform_function(operations) if operations is not None else None


def _operations(step: Any) -> tuple[Step, ...] | None:
    """The step's arithmetic, in scikit-learn's order of operations; None when unknown."""
    if type(step) is Pipeline:
        return _pipeline_operations(step)
    if type(step) is ColumnTransformer:
        return _all_columns_operations(step) or _column_parts(step)
    if type(step) is OneHotEncoder:
        return _one_hot(step)
    if type(step) is DateParts:
        return (DatePartsStep(kind="date_parts"),)
    # What ColumnTransformer turns remainder="passthrough" into: the identity when func is None.
    if type(step) is FunctionTransformer and step.func is None:
        return ()
    return _step_operations(step)


def _one_hot(encoder: OneHotEncoder) -> tuple[Step, ...] | None:
    """One 0/1 column per fitted category; an unknown value gives zeros, as "ignore" does."""
    if (
        encoder.drop_idx_ is not None
        or encoder.sparse_output
        or encoder.handle_unknown == "error"
        or getattr(encoder, "_infrequent_enabled", False)
        or encoder.dtype not in {float, np.float64}
    ):
        return None
    categories = [np.asarray(values, dtype=np.float64) for values in encoder.categories_]
    return (
        OneHot(
            kind="one_hot",
            categories=tuple(_values(values[~np.isnan(values)]) for values in categories),
            missing_category=tuple(bool(np.isnan(values).any()) for values in categories),
        ),
    )


def _column_parts(transformer: ColumnTransformer) -> tuple[Step, ...] | None:
    """Each part on its own columns, side by side, as ``ColumnTransformer`` stacks them."""
    if transformer.sparse_output_:
        return None
    positions = np.arange(transformer.n_features_in_)
    parts: list[ColumnPart] = []
    for _, part, selection in transformer.transformers_:
        if isinstance(selection, str):  # columns chosen by name: only for DataFrame inputs
            return None
        chosen = tuple(int(position) for position in positions[selection])
        if part == "drop" or not chosen:
            continue
        steps = () if part == "passthrough" else _operations(part)
        if steps is None:
            return None
        parts.append(ColumnPart(columns=chosen, steps=steps))
    return (Columns(kind="columns", parts=tuple(parts)),)


def _pipeline_operations(pipeline: Pipeline) -> tuple[Step, ...] | None:
    chained = [_operations(inner) for _, inner in _steps(pipeline)]
    if any(operations is None for operations in chained):
        return None
    return tuple(operation for operations in chained if operations for operation in operations)


def _step_operations(step: Any) -> tuple[Operation, ...] | None:
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


def _all_columns_operations(transformer: ColumnTransformer) -> tuple[Step, ...] | None:
    """A column transformer of a numbers-only table (one part on every column, in order) is
    that part's arithmetic: the default pipeline keeps its portable form on such tables."""
    positions = np.arange(transformer.n_features_in_)
    used = [
        (part, positions[selection])
        for _, part, selection in transformer.transformers_
        if part != "drop" and not isinstance(selection, str) and len(positions[selection])
    ]
    if len(used) != 1 or not np.array_equal(used[0][1], positions) or transformer.sparse_output_:
        return None
    inner = _operations(used[0][0])
    return None if inner is None else (Operation(kind="column_major"), *inner)


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
