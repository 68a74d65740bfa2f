"""Reading training data from the bundled dataset and from CSV and Parquet files."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from {{ cookiecutter.package_name }}.core.dataset import Dataset, FeatureKind
from {{ cookiecutter.package_name }}.io.datasets import DataError, load_dataset


def _table(dataset: Dataset) -> pa.Table:
    columns = {name: dataset.features[:, i] for i, name in enumerate(dataset.feature_names)}
    return pa.table({**columns, "label": dataset.target})


def test_bundled_dataset(bundled: Dataset) -> None:
{%- if cookiecutter.problem_type == 'classification' %}
    assert bundled.features.shape == (569, 30)
    assert set(bundled.target) == {"malignant", "benign"}
    assert bundled.feature_names[0] == "mean_radius"
{%- else %}
    assert bundled.features.shape == (442, 10)
    assert bundled.target.dtype == np.float64
    assert bundled.feature_names[:3] == ("age", "sex", "bmi")
{%- endif %}
    assert all(feature.kind is FeatureKind.NUMBER for feature in bundled.schema)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_files_load_like_the_bundled_data(bundled: Dataset, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"train{suffix}"
    if suffix == ".csv":
        pa_csv.write_csv(_table(bundled), path)
    else:
        pq.write_table(_table(bundled), path)
    loaded, source = load_dataset(path, "label")
    assert source == str(path)
    assert loaded.feature_names == bundled.feature_names
    np.testing.assert_allclose(loaded.features, bundled.features)
    assert list(loaded.target) == list(bundled.target)


def test_integer_and_missing_values(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text("Count,Ratio,y\n1,0.5,a\n2,,b\n")
    loaded, _ = load_dataset(path, "y")
    assert [(f.name, f.kind) for f in loaded.schema] == [
        ("count", FeatureKind.INTEGER),
        ("ratio", FeatureKind.NUMBER),
    ]
    assert np.isnan(loaded.features[1, 1])


@pytest.mark.parametrize(
    ("file_name", "content", "message"),
    [
        ("data.csv", None, "no such file"),
        ("data.json", "{}", "unsupported file type '.json'"),
        ("data.csv", "a,b\n1,2\n", "no target column 'y' \\(columns: a, b\\)"),
        ("data.csv", "a,y\n", "no rows"),
        ("data.csv", "a,y\nx,1\n", "feature column 'a' has type string"),
        ("data.csv", "y\n1\n", "no feature columns"),
        ("data.csv", "a,y\n1,\n2,3\n", "1 rows have no target value"),
        ("data.csv", 'a,y\n1,2\n"3,4\n', "unreadable csv file"),
        ("data.parquet", "not parquet", "unreadable parquet file"),
    ],
)
def test_unusable_files_are_refused_with_the_reason(
    tmp_path: Path, file_name: str, content: str | None, message: str
) -> None:
    path = tmp_path / file_name
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_dataset(path, "y")


def test_the_bundled_data_is_the_default() -> None:
    dataset, source = load_dataset(None, "ignored")
    assert source.startswith("sklearn:")
    assert len(dataset) > 400
