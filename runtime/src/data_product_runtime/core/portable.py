"""A model's arithmetic as data: scaling, imputation and a linear model, scored with numpy.

Training stores this form in the model's metadata when every step of the pipeline has one
(``core.compiled.portable_form``), after checking that it gives exactly the pipeline's outputs
on the held-out rows. Batch scoring then loads the model without importing scikit-learn or
deserialising the artifact: a process that starts faster and stays smaller. The service's
compiled predictor runs the same functions, so the arithmetic is written once.
"""

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict
from scipy.special import expit, softmax

Matrix = NDArray[np.float64]
Transform = Callable[[Matrix], Matrix]
Label = str | int | float


class Operation(BaseModel):
    """One column-wise step: ``subtract``/``divide``/``multiply``/``add`` a value per column,
    ``fill_missing`` (a NaN becomes the column's value), or ``column_major`` (the rows laid out
    column by column, as a ``ColumnTransformer`` selects them: the products that follow then
    sum in scikit-learn's order, to the last bit)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["subtract", "divide", "multiply", "add", "fill_missing", "column_major"]
    values: tuple[float, ...] = ()


class LinearOutput(BaseModel):
    """``rows @ coefficients + intercept``, then the link: identity, logistic or softmax."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    coefficients: tuple[tuple[float, ...], ...]  # one row per input column
    intercept: tuple[float, ...]
    link: Literal["identity", "logistic", "softmax"]


class PortableForm(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    transforms: tuple[Operation, ...]
    output: LinearOutput
    classes: tuple[Label, ...] | None = None


_ARITHMETIC = {
    "subtract": np.subtract,
    "divide": np.true_divide,
    "multiply": np.multiply,
    "add": np.add,
}


def _step(operation: Operation) -> Callable[[Matrix, Matrix | None], Matrix]:
    """The operation as a function of the rows, writing into ``out`` when it is given."""
    values = np.asarray(operation.values, dtype=np.float64)
    if operation.kind == "column_major":
        return lambda rows, _: np.asfortranarray(rows)
    if operation.kind == "fill_missing":

        def fill(rows: Matrix, out: Matrix | None) -> Matrix:
            missing = np.isnan(rows)
            if not missing.any():  # checked rows in batch scoring never have any
                return rows
            if out is None:
                return np.where(missing, values, rows)
            np.copyto(out, np.broadcast_to(values, rows.shape), where=missing)
            return out

        return fill
    ufunc = _ARITHMETIC[operation.kind]

    def apply(rows: Matrix, out: Matrix | None) -> Matrix:
        return np.asarray(ufunc(rows, values, out=out), dtype=np.float64)

    return apply


def transform_function(operations: tuple[Operation, ...]) -> Transform:
    """The operations applied in order; the exact arithmetic of the scikit-learn steps.

    The first operation that computes makes a new matrix; the next ones work in it, never in
    the caller's rows.
    """
    steps = [_step(operation) for operation in operations]

    def transform(rows: Matrix) -> Matrix:
        owned: Matrix | None = None
        for step in steps:
            result = step(rows, owned)
            if result is not rows:
                owned = result
            rows = result
        return rows

    return transform


def output_functions(
    output: LinearOutput, classes: NDArray[Any] | None
) -> tuple[Callable[[Matrix], NDArray[Any]], Callable[[Matrix], Matrix] | None]:
    """``predict`` and, for classifiers, ``predict_proba`` of the linear model."""
    coefficients = np.asarray(output.coefficients, dtype=np.float64)
    intercept = np.asarray(output.intercept, dtype=np.float64)
    if output.link == "identity":
        if coefficients.shape[1] == 1:
            vector, offset = np.ascontiguousarray(coefficients[:, 0]), float(intercept[0])
            return (lambda rows: rows @ vector + offset), None
        return (lambda rows: rows @ coefficients + intercept), None
    if classes is None:
        msg = f"a {output.link} output needs the classes"
        raise ValueError(msg)
    known = classes

    def probabilities(rows: Matrix) -> Matrix:
        decision = rows @ coefficients + intercept
        if output.link == "logistic":
            both = np.empty((len(decision), 2))
            both[:, 1] = expit(decision[:, 0])
            np.subtract(1.0, both[:, 1], out=both[:, 0])
            return both
        return np.asarray(softmax(decision, axis=1))

    return (lambda rows: known[probabilities(rows).argmax(axis=1)]), probabilities


class PortablePipeline:
    """What scoring uses of a fitted pipeline (``predict``, ``predict_proba``, ``classes_``),
    from a :class:`PortableForm`: numpy only, nothing deserialised but numbers."""

    def __init__(self, form: PortableForm) -> None:
        self._form = form
        self.classes_ = None if form.classes is None else np.asarray(form.classes)
        self._transform = transform_function(form.transforms)
        self._predict, self._predict_proba = output_functions(form.output, self.classes_)

    def __reduce__(self) -> tuple[type["PortablePipeline"], tuple[PortableForm]]:
        """Pickled as its numbers (Spark ships the model so), not as numpy functions."""
        return (type(self), (self._form,))

    def predict(self, rows: Matrix) -> NDArray[Any]:
        return self._predict(self._transform(np.asarray(rows, dtype=np.float64)))

    def predict_proba(self, rows: Matrix) -> Matrix:
        if self._predict_proba is None:
            msg = "a regression model has no class probabilities"
            raise AttributeError(msg)
        return self._predict_proba(self._transform(np.asarray(rows, dtype=np.float64)))
