"""Where training data comes from: the bundled scikit-learn dataset, or a CSV/Parquet file."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from pyarrow import types as pa_types

from {{ cookiecutter.package_name }}.core.dataset import Dataset, Feature, FeatureKind, to_identifier

BUNDLED_SOURCE = "{% if cookiecutter.problem_type == 'classification' %}sklearn:breast_cancer{% else %}sklearn:diabetes{% endif %}"


class DataError(ValueError):
    """The training data cannot be used; the message says why and where."""


def load_bundled() -> Dataset:
    """{% if cookiecutter.problem_type == 'classification' %}Breast cancer diagnosis (569 rows, 30 features), labels 'malignant'/'benign'{% else %}Diabetes progression (442 rows, 10 features){% endif %}."""
    # Imported here: batch scoring reads data through this module without scikit-learn.
{%- if cookiecutter.problem_type == 'classification' %}
    from sklearn.datasets import load_breast_cancer  # noqa: PLC0415

    bunch = load_breast_cancer()
    target = np.asarray(bunch.target_names)[bunch.target]
{%- else %}
    from sklearn.datasets import load_diabetes  # noqa: PLC0415

    bunch = load_diabetes()
    target = np.asarray(bunch.target, dtype=np.float64)
{%- endif %}
    schema = tuple(
        Feature(name=to_identifier(name), kind=FeatureKind.NUMBER) for name in bunch.feature_names
    )
    return Dataset(np.asarray(bunch.data, dtype=np.float64), target, schema, "target")


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


def load_dataset(data_path: Path | None, target_column: str) -> tuple[Dataset, str]:
    """The training data and a name for where it came from."""
    if data_path is None:
        return load_bundled(), BUNDLED_SOURCE
    return dataset_from_table(read_table(data_path), target_column, str(data_path)), str(data_path)
