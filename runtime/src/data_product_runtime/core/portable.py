"""A model's arithmetic as data: imputation, scaling, one-hot categories, date parts and
columns chosen per part, then a linear model, scored with numpy.

Training stores this form in the model's metadata when every step of the pipeline has one
(``core.compiled.portable_form``), after checking that it gives exactly the pipeline's outputs
on the held-out rows. Batch scoring then loads the model without importing scikit-learn or
deserialising the artifact: a process that starts faster and stays smaller. The service's
compiled predictor runs the same functions, so the arithmetic is written once.
"""

from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
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


class OneHot(BaseModel):
    """One 0/1 column per known category of each column (categories are the dataset's codes),
    then one for a missing value where the encoder learned it; an unseen code gives zeros, as
    ``handle_unknown="ignore"`` does."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["one_hot"]
    categories: tuple[tuple[float, ...], ...]
    missing_category: tuple[bool, ...]


class DatePartsStep(BaseModel):
    """Each column of seconds since 1970 as year, month, day, weekday and hour (``date_parts``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["date_parts"]


class ColumnPart(BaseModel):
    """Steps applied to some input columns (none: the columns pass through)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    columns: tuple[int, ...]
    steps: tuple["Step", ...]


class Columns(BaseModel):
    """Parts side by side, in order, as ``ColumnTransformer`` stacks them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["columns"]
    parts: tuple[ColumnPart, ...]


Step = Annotated[Operation | OneHot | DatePartsStep | Columns, Field(discriminator="kind")]
ColumnPart.model_rebuild()


class LinearOutput(BaseModel):
    """``rows @ coefficients + intercept``, then the link: identity, logistic or softmax."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    coefficients: tuple[tuple[float, ...], ...]  # one row per input column
    intercept: tuple[float, ...]
    link: Literal["identity", "logistic", "softmax"]


class PortableForm(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    transforms: tuple[Step, ...]
    output: LinearOutput
    classes: tuple[Label, ...] | None = None


_ARITHMETIC = {
    "subtract": np.subtract,
    "divide": np.true_divide,
    "multiply": np.multiply,
    "add": np.add,
}


PARTS = ("year", "month", "day", "weekday", "hour")


def date_parts(seconds: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each column of seconds since 1970 (UTC) as year, month, day, weekday (Monday 0) and
    hour, side by side; NaN stays NaN."""
    seconds = np.asarray(seconds, dtype=np.float64)
    missing = np.isnan(seconds)
    moments = np.floor(np.where(missing, 0.0, seconds)).astype(np.int64).astype("datetime64[s]")
    days = moments.astype("datetime64[D]")
    months = moments.astype("datetime64[M]")
    years = moments.astype("datetime64[Y]")
    parts = np.stack(
        [
            years.astype(np.int64) + 1970,
            (months - years.astype("datetime64[M]")).astype(np.int64) + 1,
            (days - months.astype("datetime64[D]")).astype(np.int64) + 1,
            (days.astype(np.int64) + 3) % 7,  # 1970-01-01 was a Thursday
            (moments - days.astype("datetime64[s]")).astype(np.int64) // 3600,
        ],
        axis=-1,
    ).astype(np.float64)
    parts[np.broadcast_to(missing[..., None], parts.shape)] = np.nan
    return parts.reshape(len(seconds), -1)


def _one_hot(step: OneHot) -> Transform:
    known = [np.asarray(values, dtype=np.float64)[None, :] for values in step.categories]

    def encode(rows: Matrix) -> Matrix:
        parts: list[NDArray[Any]] = []
        for index, (values, has_missing) in enumerate(
            zip(known, step.missing_category, strict=True)
        ):
            column = rows[:, index : index + 1]
            parts.append(column == values)
            if has_missing:
                parts.append(np.isnan(column))
        return np.concatenate(parts, axis=1).astype(np.float64)

    return encode


def _columns(step: Columns) -> Transform:
    parts = [
        (
            np.asarray(part.columns, dtype=np.intp),
            transform_function(part.steps) if part.steps else None,
        )
        for part in step.parts
    ]

    def stack(rows: Matrix) -> Matrix:
        return np.concatenate(
            [rows[:, chosen] if part is None else part(rows[:, chosen]) for chosen, part in parts],
            axis=1,
        )

    return stack


def _step(operation: "Step") -> Callable[[Matrix, Matrix | None], Matrix]:
    """The step as a function of the rows, writing into ``out`` when it is given (steps that
    change the number of columns always make a new matrix)."""
    if operation.kind == "one_hot":
        encode = _one_hot(operation)
        return lambda rows, _: encode(rows)
    if operation.kind == "date_parts":
        return lambda rows, _: date_parts(rows)
    if operation.kind == "columns":
        stack = _columns(operation)
        return lambda rows, _: stack(rows)
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


def transform_function(operations: tuple[Step, ...]) -> Transform:
    """The steps applied in order; the exact arithmetic of the scikit-learn steps.

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
