"""Training tables: read from CSV or Parquet, their columns' roles inferred, then encoded."""

from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from pyarrow import types as pa_types

from data_product_runtime.core.dataset import (
    ColumnRole,
    Dataset,
    Feature,
    FeatureKind,
    to_identifier,
)
from data_product_runtime.core.scoring import check_batch, missing_features


class DataError(ValueError):
    """The training data cannot be used; the message says why and where."""


def read_table(path: Path) -> pa.Table:
    """Read a whole CSV or Parquet file (chosen by its suffix) into an Arrow table."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            # An empty field is a missing value, for text columns as for numbers.
            return pa_csv.read_csv(
                path, convert_options=pa_csv.ConvertOptions(strings_can_be_null=True)
            )
        if suffix in {".parquet", ".pq"}:
            return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise DataError(f"{path}: unreadable {suffix[1:]} file: {error}") from error
    raise DataError(f"{path}: unsupported file type '{suffix}'; use .csv or .parquet")


ColumnRoles = Mapping[str, ColumnRole | str]
"""A project's declared column roles (by column name), over what the table's types suggest."""

_DISTINCT_TEXT_ROWS = 50  # a text column with a different value in each of more rows is no category


def infer_schema(
    table: pa.Table, target_column: str, roles: ColumnRoles, origin: str
) -> tuple[tuple[Feature, ...], tuple[str, ...]]:
    """The features and key columns of a training table: declared roles first, then types."""
    unknown = sorted(set(roles) - set(table.column_names))
    if unknown:
        raise DataError(
            f"{origin}: column roles name columns the table lacks: {', '.join(unknown)}"
        )
    features: list[Feature] = []
    keys: list[str] = []
    for field in table.schema:
        if field.name == target_column:
            continue
        column = table.column(field.name)
        declared = roles.get(field.name)
        if column.null_count == len(column) and declared != ColumnRole.IGNORED:
            raise DataError(f"{origin}: column '{field.name}' has no values")
        try:
            role = ColumnRole(declared or _role_from_type(field, column))
        except ValueError as error:
            raise DataError(f"{origin}: column '{field.name}': {error}") from None
        name = to_identifier(field.name)
        if role is ColumnRole.ID:
            keys.append(name)
            continue
        if role is ColumnRole.IGNORED:
            continue
        kind = FeatureKind(role.value)
        missing = column.null_count
        if pa_types.is_floating(field.type):
            missing += int(pc.sum(pc.is_nan(column)).as_py() or 0)
        if missing == len(column):
            raise DataError(f"{origin}: column '{field.name}' has no values")
        categories = _categories(column) if kind is FeatureKind.CATEGORICAL else None
        if categories is not None and len(categories) == table.num_rows > _DISTINCT_TEXT_ROWS:
            msg = (
                f"{origin}: column '{field.name}' has a different value in every row; declare it"
                " 'id' or 'ignored' in the project's column roles (COLUMNS in data.py)"
            )
            raise DataError(msg)
        features.append(Feature(name=name, kind=kind, optional=missing > 0, categories=categories))
    if not features:
        raise DataError(f"{origin}: no feature columns besides the target '{target_column}'")
    return tuple(features), tuple(keys)


def _role_from_type(field: pa.Field, column: pa.ChunkedArray) -> ColumnRole:
    kind = field.type
    if pa_types.is_dictionary(kind):
        kind = kind.value_type
    text = pa_types.is_string(kind) or pa_types.is_large_string(kind)
    name = field.name.lower()
    if (
        (name == "id" or name.endswith(("_id", " id")))
        and (text or pa_types.is_integer(kind))
        and pc.count_distinct(column).as_py() == len(column)
    ):
        return ColumnRole.ID
    if text:
        return ColumnRole.CATEGORICAL
    if pa_types.is_boolean(kind):
        return ColumnRole.BOOLEAN
    if pa_types.is_integer(kind):
        return ColumnRole.INTEGER
    if pa_types.is_floating(kind) or pa_types.is_decimal(kind):
        return ColumnRole.NUMBER
    if pa_types.is_timestamp(kind) or pa_types.is_date(kind):
        return ColumnRole.DATETIME
    msg = f"type {field.type} is not a feature type; declare its role in COLUMNS (data.py)"
    raise ValueError(msg)


def _categories(column: pa.ChunkedArray) -> tuple[str, ...]:
    """The column's values as text, the most frequent first (ties by name)."""
    counts = pc.value_counts(pc.cast(column, pa.string()).combine_chunks())
    pairs = [
        (value, count)
        for value, count in zip(
            counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
        )
        if value is not None
    ]
    return tuple(value for value, _ in sorted(pairs, key=lambda pair: (-pair[1], pair[0])))


def dataset_from_table(
    table: pa.Table,
    target_column: str,
    origin: str,
    *,
    roles: ColumnRoles | None = None,
    features: tuple[Feature, ...] | None = None,
) -> Dataset:
    """The table encoded as the pipeline sees it (``core.dataset``): with the given features
    (a model's, to evaluate it), else with the ones inferred from the table and ``roles``."""
    if table.num_rows == 0:
        raise DataError(f"{origin}: the table has no rows")
    if target_column not in table.column_names:
        raise DataError(
            f"{origin}: no target column '{target_column}' (columns: {', '.join(table.column_names)})"
        )
    keys: tuple[str, ...] = ()
    if features is None:
        features, keys = infer_schema(table, target_column, roles or {}, origin)
    renamed = table.rename_columns([to_identifier(name) for name in table.column_names])
    absent = missing_features(renamed.column_names, features)
    if absent:
        listed = ", ".join(absent[:5]) + (", ..." if len(absent) > 5 else "")  # noqa: PLR2004
        raise DataError(f"{origin}: the table lacks {len(absent)} of the features: {listed}")
    batch = pa.RecordBatch.from_arrays(
        [renamed.column(feature.name).combine_chunks() for feature in features],
        names=[feature.name for feature in features],
    )
    checked = check_batch(batch, features)
    if checked.problems:
        first = min(checked.problems)
        more = len(checked.problems) - 1
        tail = f" (and {more} more rows)" if more else ""
        raise DataError(f"{origin}: row {first + 1}: {checked.problems[first]}{tail}")
    target_values = table.column(target_column)
    if target_values.null_count:
        raise DataError(f"{origin}: {target_values.null_count} rows have no target value")
    target = target_values.to_numpy()
    try:
        return Dataset(checked.matrix, target, features, target_column, keys)
    except ValueError as error:
        raise DataError(f"{origin}: {error}") from error


def load_table(data_path: Path) -> tuple[pa.Table, str]:
    """A training table from a CSV or Parquet file, and its path as the source's name."""
    return read_table(data_path), str(data_path)
