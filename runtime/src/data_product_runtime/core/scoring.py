"""Batch scoring without side effects: check rows against the model's features, then score them.

Rows come in as Arrow record batches from any adapter (files, SQL, streams, Spark). Every
feature must have a value of its kind (a finite number, an integer, a boolean, a category, a
date), unless it is optional; a row that has not is set aside with the reason, never scored
and never dropped. The same encoding (``core.dataset``) turns training tables into matrices.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from pyarrow import types as pa_types

from data_product_runtime.core.dataset import UNSEEN, Feature, FeatureKind
from data_product_runtime.core.model import Model

ROW_COLUMN = "row"
REASON_COLUMN = "reason"
RECORD_COLUMN = "record"
VERSION_COLUMN = "model_version"
SCORED_AT_COLUMN = "scored_at"
PREDICTION_COLUMN = "prediction"
# A column an adapter may add: why it could not even decode a row (a stream's bad message).
PROBLEM_COLUMN = "_problem"


@dataclass(frozen=True)
class CheckedBatch:
    """A batch split into the matrix of its valid rows and the reasons of its bad rows."""

    matrix: NDArray[np.float64]
    valid: NDArray[np.bool_]
    problems: dict[int, str]

    @property
    def bad_rows(self) -> NDArray[np.intp]:
        return np.flatnonzero(~self.valid)


# Arrays and constants are built from buffers: `pa.array` and `pa.scalar` import pandas to
# rule out pandas types, 35 MB and a third of a second that batch scoring does not need.


def from_numpy(values: NDArray[Any]) -> pa.Array:
    """A 1-d numpy array as an Arrow array, sharing its memory where the layout allows."""
    values = np.ascontiguousarray(values)
    if values.dtype == np.bool_:  # Arrow packs booleans into bits
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])
    arrow_type = pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(arrow_type, len(values), [None, pa.py_buffer(values)])


def from_texts(texts: list[str]) -> pa.Array:
    """Texts as an Arrow string array."""
    encoded = [text.encode() for text in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(data) for data in encoded], out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.string(), len(encoded), buffers)


def text_column(text: str, rows: int) -> pa.Array:
    """``rows`` times the same text."""
    return pa.repeat(from_texts([text])[0], rows)


def time_column(moment: datetime, rows: int) -> pa.Array:
    """``rows`` times the same UTC time, in microseconds."""
    micros = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    single = from_numpy(np.array([micros], dtype=np.int64)).cast(pa.timestamp("us", tz="UTC"))
    return pa.repeat(single[0], rows)


def missing_features(column_names: list[str], features: tuple[Feature, ...]) -> list[str]:
    """Feature names that the input has no column for."""
    present = set(column_names)
    return [feature.name for feature in features if feature.name not in present]


def check_batch(batch: pa.RecordBatch, features: tuple[Feature, ...]) -> CheckedBatch:
    """Check every value of every feature, and take over the problems an adapter reported."""
    rows = batch.num_rows
    matrix = np.empty((rows, len(features)), dtype=np.float64)
    notes: dict[int, list[str]] = {}
    if PROBLEM_COLUMN in batch.schema.names:
        for index, text in enumerate(batch.column(PROBLEM_COLUMN).to_pylist()):
            if text is not None:
                notes[index] = [text]
    undecoded = set(notes)  # their feature values say nothing more
    for position, feature in enumerate(features):
        values, problems = _column_values(batch.column(feature.name), feature)
        matrix[:, position] = values
        for index, text in problems.items():
            if index not in undecoded:
                notes.setdefault(index, []).append(f"{feature.name}: {text}")
    valid = np.ones(rows, dtype=np.bool_)
    valid[list(notes)] = False
    usable = matrix[valid] if notes else matrix
    return CheckedBatch(usable, valid, {index: "; ".join(notes[index]) for index in notes})


def _column_values(
    column: pa.Array, feature: Feature
) -> tuple[NDArray[np.float64], dict[int, str]]:
    """The column encoded as float64 (see ``core.dataset``), NaN where missing or unusable,
    and a problem for each unusable row."""
    values, problems = _ENCODERS[feature.kind](column, feature)
    if not feature.optional:
        for index in np.flatnonzero(np.isnan(values)):
            problems.setdefault(int(index), "no value (empty, null or NaN)")
    return values, problems


def _numbers(column: pa.Array, feature: Feature) -> tuple[NDArray[np.float64], dict[int, str]]:
    problems: dict[int, str] = {}
    if pa_types.is_string(column.type) or pa_types.is_large_string(column.type):
        try:
            values = _as_floats(pc.cast(column, pa.float64()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values, problems = _parse_one_by_one(column.to_pylist(), float, "not a number")
    elif (
        pa_types.is_integer(column.type)
        or pa_types.is_floating(column.type)
        or pa_types.is_boolean(column.type)
        or pa_types.is_decimal(column.type)
        or pa_types.is_null(column.type)
    ):
        values = _as_floats(pc.cast(column, pa.float64()))
    else:
        return _refused(column, f"not a number (column type {column.type})")
    for index in np.flatnonzero(np.isinf(values)):
        problems.setdefault(int(index), f"not a finite number ({values[index]})")
    if feature.kind is FeatureKind.INTEGER:
        with np.errstate(invalid="ignore"):
            fractional = np.flatnonzero(np.isfinite(values) & (values != np.floor(values)))
        for index in fractional:
            problems.setdefault(int(index), f"not an integer ({values[index]})")
    return values, problems


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _booleans(column: pa.Array, _: Feature) -> tuple[NDArray[np.float64], dict[int, str]]:
    if pa_types.is_string(column.type) or pa_types.is_large_string(column.type):
        return _parse_one_by_one(column.to_pylist(), _parse_boolean, "not a boolean")
    if not (
        pa_types.is_boolean(column.type)
        or pa_types.is_integer(column.type)
        or pa_types.is_null(column.type)
    ):
        return _refused(column, f"not a boolean (column type {column.type})")
    values = _as_floats(pc.cast(column, pa.float64()))
    problems = {
        int(index): f"not a boolean ({values[index]:g})"
        for index in np.flatnonzero(~np.isnan(values) & (values != 0) & (values != 1))
    }
    return values, problems


def _parse_boolean(text: str) -> float:
    word = text.strip().lower()
    if word in _TRUE or word in _FALSE:
        return float(word in _TRUE)
    raise ValueError(text)


def _categories(column: pa.Array, feature: Feature) -> tuple[NDArray[np.float64], dict[int, str]]:
    if not (pa_types.is_string(column.type) or pa_types.is_large_string(column.type)):
        try:
            column = pc.cast(column, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return _refused(column, f"not a category (column type {column.type})")
    codes = pc.index_in(column, value_set=from_texts(list(feature.categories or ())))
    values = _as_floats(pc.cast(codes, pa.float64()))
    present = _as_floats(pc.cast(column.is_valid(), pa.float64())) == 1.0  # no pandas import
    values[present & np.isnan(values)] = UNSEEN
    return values, {}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _datetimes(column: pa.Array, _: Feature) -> tuple[NDArray[np.float64], dict[int, str]]:
    if pa_types.is_string(column.type) or pa_types.is_large_string(column.type):
        for target in (pa.timestamp("us"), pa.timestamp("us", tz="UTC")):
            try:
                column = pc.cast(column, target)
                break
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
        else:
            return _parse_one_by_one(column.to_pylist(), seconds_since_epoch, "not a date")
    if pa_types.is_date(column.type):
        column = pc.cast(pc.cast(column, pa.date32()), pa.timestamp("us"))
    if not pa_types.is_timestamp(column.type):
        return _refused(column, f"not a date (column type {column.type})")
    micros = pc.cast(pc.cast(column, pa.timestamp("us", tz=column.type.tz)), pa.int64())
    return _as_floats(pc.cast(micros, pa.float64())) / 1e6, {}


def seconds_since_epoch(text: str) -> float:
    """An ISO 8601 date or time (UTC unless it says otherwise) as the pipeline sees it."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) / 1e6


_ENCODERS = {
    FeatureKind.NUMBER: _numbers,
    FeatureKind.INTEGER: _numbers,
    FeatureKind.BOOLEAN: _booleans,
    FeatureKind.CATEGORICAL: _categories,
    FeatureKind.DATETIME: _datetimes,
}


def _refused(column: pa.Array, reason: str) -> tuple[NDArray[np.float64], dict[int, str]]:
    return np.full(len(column), np.nan), dict.fromkeys(range(len(column)), reason)


def _as_floats(column: pa.Array) -> NDArray[np.float64]:
    """A float64 column's values with NaN for nulls, read from its Arrow buffers: no copy
    when it has no nulls (and, unlike ``to_numpy``, no import of pandas)."""
    validity, data = column.buffers()[:2]
    values = np.frombuffer(data, dtype=np.float64, count=len(column), offset=column.offset * 8)
    if not column.null_count:
        return values
    present = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
    return np.where(present[column.offset : column.offset + len(column)] == 1, values, np.nan)


def _parse_one_by_one(
    texts: list[str | None], parse: Callable[[str], float], problem: str
) -> tuple[NDArray[np.float64], dict[int, str]]:
    values = np.full(len(texts), np.nan)
    problems: dict[int, str] = {}
    for index, text in enumerate(texts):
        if text is None or not text.strip():
            continue
        try:
            values[index] = parse(text)
        except ValueError:
            problems[index] = f"{problem} ({text[:40]!r})"
    return values, problems


def score_matrix(model: Model, matrix: NDArray[np.float64]) -> dict[str, pa.Array]:
    """Scoring columns for a matrix of valid rows: the same numbers as ``Model.predict``."""
    problem, classes = model.problem, model.metadata.classes
    outputs = model.outputs(matrix) if len(matrix) else problem.empty_outputs(classes)
    return problem.result_columns(outputs, classes)


def result_schema(model: Model, key_name: str | None) -> pa.Schema:
    """The columns of every result batch, known before the first row is scored: the key
    (text), or the row number when the input has no key column."""
    empty = np.empty((0, len(model.metadata.features)))
    keys = from_numpy(np.empty(0, dtype=np.int64)) if key_name is None else from_texts([])
    scores = score_matrix(model, empty)
    return result_batch(keys, key_name or ROW_COLUMN, scores, model.version).schema


def quarantine_schema(key_name: str | None) -> pa.Schema:
    """The columns of every quarantine batch: where, which key, why, the values, which model."""
    fields = [pa.field(ROW_COLUMN, pa.int64())]
    if key_name is not None:
        fields.append(pa.field(key_name, pa.string()))
    fields += [
        pa.field(REASON_COLUMN, pa.string()),
        pa.field(RECORD_COLUMN, pa.string()),
        pa.field(VERSION_COLUMN, pa.string()),
    ]
    return pa.schema(fields)


def result_batch(
    keys: pa.Array,
    key_name: str,
    scores: dict[str, pa.Array],
    version: str,
    scored_at: datetime | None = None,
) -> pa.RecordBatch:
    """Output rows: the key, the scoring columns, the model version and the scoring time."""
    rows = len(keys)
    moment = scored_at or datetime.now(UTC)
    return pa.RecordBatch.from_pydict(
        {
            key_name: keys,
            **scores,
            VERSION_COLUMN: text_column(version, rows),
            SCORED_AT_COLUMN: time_column(moment, rows),
        }
    )


def quarantine_batch(
    batch: pa.RecordBatch,
    checked: CheckedBatch,
    *,
    row_numbers: pa.Array,
    keys: pa.Array | None,
    key_name: str | None,
    version: str,
) -> pa.RecordBatch:
    """The bad rows: where they were, why they were refused and their values as JSON."""
    bad = from_numpy(checked.bad_rows.astype(np.int64))
    kept = [name for name in batch.schema.names if name != PROBLEM_COLUMN]
    records = batch.select(kept).take(bad).to_pylist()
    columns: dict[str, pa.Array] = {ROW_COLUMN: row_numbers.take(bad)}
    if keys is not None and key_name is not None:
        columns[key_name] = keys.take(bad)
    columns[REASON_COLUMN] = pa.array(
        [checked.problems[int(index)] for index in checked.bad_rows], type=pa.string()
    )
    columns[RECORD_COLUMN] = pa.array(
        [json.dumps(record, default=str) for record in records], type=pa.string()
    )
    columns[VERSION_COLUMN] = text_column(version, len(bad))
    return pa.RecordBatch.from_pydict(columns, schema=quarantine_schema(key_name))


def as_keys(column: pa.Array) -> pa.Array:
    """Keys as text, whatever their type in the input, so every sink stores them alike."""
    if pa_types.is_string(column.type):
        return column
    return pc.cast(column, pa.string())
