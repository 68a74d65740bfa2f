"""Batch scoring without side effects: check rows against the model's features, then score them.

Rows come in as Arrow record batches from any adapter (files, SQL, streams, Spark). Every
feature must be present and a finite number (an integer where the schema says so); a row that
is not is set aside with the reason, never scored and never dropped.
"""

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from pyarrow import types as pa_types

from {{ cookiecutter.package_name }}.core.dataset import Feature, FeatureKind{% if cookiecutter.problem_type == 'classification' %}, to_identifier{% endif %}
from {{ cookiecutter.package_name }}.core.model import Model

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
    """The column as float64 (NaN where unusable) and a problem for each unusable row."""
    problems: dict[int, str] = {}
    if pa_types.is_string(column.type) or pa_types.is_large_string(column.type):
        try:
            values = _as_floats(pc.cast(column, pa.float64()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values, problems = _parse_one_by_one(column.to_pylist())
    elif (
        pa_types.is_integer(column.type)
        or pa_types.is_floating(column.type)
        or pa_types.is_boolean(column.type)
        or pa_types.is_decimal(column.type)
        or pa_types.is_null(column.type)
    ):
        values = _as_floats(pc.cast(column, pa.float64()))
    else:
        return np.full(len(column), np.nan), dict.fromkeys(
            range(len(column)), f"not a number (column type {column.type})"
        )
    nulls = np.flatnonzero(np.isnan(values))
    for index in nulls:
        problems.setdefault(int(index), "no value (empty, null or NaN)")
    infinite = np.flatnonzero(np.isinf(values))
    for index in infinite:
        problems.setdefault(int(index), f"not a finite number ({values[index]})")
    if feature.kind is FeatureKind.INTEGER:
        with np.errstate(invalid="ignore"):
            fractional = np.flatnonzero(np.isfinite(values) & (values != np.floor(values)))
        for index in fractional:
            problems.setdefault(int(index), f"not an integer ({values[index]})")
    return values, problems


def _as_floats(column: pa.Array) -> NDArray[np.float64]:
    """Float64 values with NaN for nulls; zero-copy when the column has no nulls."""
    if column.null_count:
        column = column.fill_null(math.nan)
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def _parse_one_by_one(texts: list[str | None]) -> tuple[NDArray[np.float64], dict[int, str]]:
    values = np.full(len(texts), np.nan)
    problems: dict[int, str] = {}
    for index, text in enumerate(texts):
        if text is None or not text.strip():
            continue
        try:
            values[index] = float(text)
        except ValueError:
            problems[index] = f"not a number ({text[:40]!r})"
    return values, problems


def score_matrix(model: Model, matrix: NDArray[np.float64]) -> dict[str, pa.Array]:
    """Scoring columns for a matrix of valid rows: the same numbers as ``Model.predict``."""
{%- if cookiecutter.problem_type == 'classification' %}
    classes = np.asarray(model.pipeline.classes_)
    if len(matrix) == 0:
        probabilities = np.empty((0, len(classes)))
    else:
        probabilities = model.pipeline.predict_proba(matrix)
    labels = pa.array(classes.tolist())
    columns = {PREDICTION_COLUMN: labels.take(pa.array(probabilities.argmax(axis=1)))}
    for position, label in enumerate(classes):
        name = f"probability_{to_identifier(str(label))}"
        columns[name] = pa.array(probabilities[:, position], type=pa.float64())
    return columns
{%- else %}
    predictions = model.pipeline.predict(matrix) if len(matrix) else np.empty(0)
    return {PREDICTION_COLUMN: pa.array(np.asarray(predictions, dtype=np.float64))}
{%- endif %}


def result_schema(model: Model, key_name: str | None) -> pa.Schema:
    """The columns of every result batch, known before the first row is scored: the key
    (text), or the row number when the input has no key column."""
    empty = np.empty((0, len(model.metadata.features)))
    keys = pa.array([], type=pa.int64() if key_name is None else pa.string())
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
            VERSION_COLUMN: pa.repeat(pa.scalar(version, pa.string()), rows),
            SCORED_AT_COLUMN: pa.repeat(pa.scalar(moment, pa.timestamp("us", tz="UTC")), rows),
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
    bad = pa.array(checked.bad_rows, type=pa.int64())
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
    columns[VERSION_COLUMN] = pa.repeat(pa.scalar(version, pa.string()), len(bad))
    return pa.RecordBatch.from_pydict(columns, schema=quarantine_schema(key_name))


def as_keys(column: pa.Array) -> pa.Array:
    """Keys as text, whatever their type in the input, so every sink stores them alike."""
    if pa_types.is_string(column.type):
        return column
    return pc.cast(column, pa.string())
