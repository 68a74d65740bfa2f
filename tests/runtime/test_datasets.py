"""Reading training tables from CSV and Parquet files (the bundled dataset is project code)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from data_product_runtime import Project
from data_product_runtime.core.dataset import Dataset, FeatureKind
from data_product_runtime.io.datasets import DataError, dataset_from_table, load_table


def _table(dataset: Dataset) -> pa.Table:
    columns = {name: dataset.features[:, i] for i, name in enumerate(dataset.feature_names)}
    return pa.table({**columns, "label": dataset.target})


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_files_load_like_the_bundled_data(bundled: Dataset, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"train{suffix}"
    if suffix == ".csv":
        pa_csv.write_csv(_table(bundled), path)
    else:
        pq.write_table(_table(bundled), path)
    loaded, source = _load(path, "label")
    assert source == str(path)
    assert loaded.feature_names == bundled.feature_names
    np.testing.assert_allclose(loaded.features, bundled.features)
    assert list(loaded.target) == list(bundled.target)


def test_a_project_reads_its_data_path_with_the_runtime(
    project: Project, bundled: Dataset, tmp_path: Path
) -> None:
    path = tmp_path / "train.parquet"
    pq.write_table(_table(bundled), path)
    loaded, source = project.dataset(project.settings(data_path=path, target_column="label"))
    assert (loaded.fingerprint(), source) == (_load(path, "label")[0].fingerprint(), str(path))


def test_integer_and_missing_values(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text("Count,Ratio,y\n1,0.5,a\n2,,b\n")
    loaded, _ = _load(path, "y")
    assert [(f.name, f.kind, f.optional) for f in loaded.schema] == [
        ("count", FeatureKind.INTEGER, False),
        ("ratio", FeatureKind.NUMBER, True),
    ]
    assert np.isnan(loaded.features[1, 1])


@pytest.mark.parametrize(
    ("file_name", "content", "message"),
    [
        ("data.csv", None, "no such file"),
        ("data.json", "{}", "unsupported file type '.json'"),
        ("data.csv", "a,b\n1,2\n", "no target column 'y' \\(columns: a, b\\)"),
        ("data.csv", "a,y\n", "no rows"),
        ("data.csv", "a,y\n,1\n,2\n", "column 'a' has no values"),
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
        _load(path, "y")


def _load(path: Path, target: str) -> tuple[Dataset, str]:
    table, source = load_table(path)
    return dataset_from_table(table, target, source), source
