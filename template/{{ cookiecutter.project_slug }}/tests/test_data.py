"""The training data: the bundled dataset, and a table of your own read the same way."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from data_product_runtime.core.dataset import Dataset, FeatureKind

from {{ cookiecutter.package_name }}.data import BUNDLED_SOURCE, load_training_data
from {{ cookiecutter.package_name }}.settings import Settings


def test_the_bundled_dataset_has_named_finite_numeric_features(bundled: Dataset) -> None:
    assert len(bundled) > 100
    assert bundled.features.shape == (len(bundled), len(bundled.schema))
    assert all(feature.kind is FeatureKind.NUMBER for feature in bundled.schema)
    assert all(name.isidentifier() for name in bundled.feature_names)
    assert np.isfinite(bundled.features).all()


def test_training_data_is_the_bundled_dataset_unless_a_table_is_given(
    bundled: Dataset, tmp_path: Path
) -> None:
    dataset, source = load_training_data(Settings())
    assert (source, dataset.fingerprint()) == (BUNDLED_SOURCE, bundled.fingerprint())
    columns = {name: bundled.features[:50, i] for i, name in enumerate(bundled.feature_names)}
    table = tmp_path / "train.csv"
    pa_csv.write_csv(pa.table({**columns, "label": bundled.target[:50]}), table)
    own, own_source = load_training_data(Settings(data_path=table, target_column="label"))
    assert (own_source, len(own), own.feature_names) == (str(table), 50, bundled.feature_names)
    np.testing.assert_allclose(own.features, bundled.features[:50])
