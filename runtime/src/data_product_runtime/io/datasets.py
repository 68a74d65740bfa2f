"""Training tables from CSV or Parquet files: numeric features and a target column."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from pyarrow import types as pa_types

from data_product_runtime.core.dataset import Dataset, Feature, FeatureKind, to_identifier


class DataError(ValueError):
    """The training data cannot be used; the message says why and where."""


def read_table(path: Path) -> pa.Table:
    """Read a whole CSV or Parquet file (chosen by its suffix) into an Arrow table."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pa_csv.read_csv(path)
        if suffix in {".parquet", ".pq"}:
            return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise DataError(f"{path}: unreadable {suffix[1:]} file: {error}") from error
    raise DataError(f"{path}: unsupported file type '{suffix}'; use .csv or .parquet")


def dataset_from_table(table: pa.Table, target_column: str, origin: str) -> Dataset:
    """Numeric feature columns plus the target column; anything else is refused by name."""
    if table.num_rows == 0:
        raise DataError(f"{origin}: the table has no rows")
    if target_column not in table.column_names:
        raise DataError(
            f"{origin}: no target column '{target_column}' (columns: {', '.join(table.column_names)})"
        )
    schema: list[Feature] = []
    columns: list[np.ndarray] = []
    for field in table.schema:
        if field.name == target_column:
            continue
        if pa_types.is_integer(field.type) or pa_types.is_boolean(field.type):
            kind = FeatureKind.INTEGER
        elif pa_types.is_floating(field.type):
            kind = FeatureKind.NUMBER
        else:
            raise DataError(
                f"{origin}: feature column '{field.name}' has type {field.type}; features must be numeric"
            )
        schema.append(Feature(name=to_identifier(field.name), kind=kind))
        columns.append(table.column(field.name).to_numpy(zero_copy_only=False).astype(np.float64))
    if not schema:
        raise DataError(f"{origin}: no feature columns besides the target '{target_column}'")
    target_values = table.column(target_column)
    if target_values.null_count:
        raise DataError(f"{origin}: {target_values.null_count} rows have no target value")
    target = target_values.to_numpy(zero_copy_only=False)
    try:
        return Dataset(np.column_stack(columns), target, tuple(schema), target_column)
    except ValueError as error:
        raise DataError(f"{origin}: {error}") from error


def load_table(data_path: Path, target_column: str) -> tuple[Dataset, str]:
    """A training table from a CSV or Parquet file, and its path as the source's name."""
    return dataset_from_table(read_table(data_path), target_column, str(data_path)), str(data_path)
