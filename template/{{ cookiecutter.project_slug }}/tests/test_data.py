"""The training data: the bundled dataset, your own table read the same way, and the roles
of a mixed-type table's columns (an id, categories, a boolean, a date, gaps)."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from data_product_runtime.core.dataset import Dataset, FeatureKind
from data_product_runtime.examples import TARGETS, churn_table

from {{ cookiecutter.package_name }}.data import BUNDLED_SOURCE
from {{ cookiecutter.package_name }}.project import PROJECT


def test_the_bundled_dataset_has_named_finite_numeric_features(bundled: Dataset) -> None:
    assert len(bundled) > 100
    assert bundled.features.shape == (len(bundled), len(bundled.schema))
    assert all(feature.kind is FeatureKind.NUMBER for feature in bundled.schema)
    assert all(name.isidentifier() for name in bundled.feature_names)
    assert np.isfinite(bundled.features).all()


def test_training_data_is_the_bundled_dataset_unless_a_table_is_given(
    bundled: Dataset, tmp_path: Path
) -> None:
    dataset, source = PROJECT.dataset(PROJECT.settings())
    assert (source, dataset.fingerprint()) == (BUNDLED_SOURCE, bundled.fingerprint())
    columns = {name: bundled.features[:50, i] for i, name in enumerate(bundled.feature_names)}
    table = tmp_path / "train.csv"
    pa_csv.write_csv(pa.table({**columns, "label": bundled.target[:50]}), table)
    own, own_source = PROJECT.dataset(PROJECT.settings(data_path=table, target_column="label"))
    assert (own_source, len(own), own.feature_names) == (str(table), 50, bundled.feature_names)
    np.testing.assert_allclose(own.features, bundled.features[:50])


def test_a_mixed_type_table_gets_its_roles_from_its_columns(tmp_path: Path) -> None:
    table = tmp_path / "churn.csv"
    pa_csv.write_csv(churn_table(PROJECT.problem_type), table)
    settings = PROJECT.settings(data_path=table, target_column=TARGETS[PROJECT.problem_type])
    dataset, _ = PROJECT.dataset(settings)
    kinds = {feature.name: feature.kind for feature in dataset.schema}
    assert dataset.keys == ("customer_id",)
    assert kinds["plan"] is FeatureKind.CATEGORICAL
    assert kinds["has_partner"] is FeatureKind.BOOLEAN
    assert kinds["signup_date"] is FeatureKind.DATETIME
    assert {feature.name for feature in dataset.schema if feature.optional} == {
        "region",
        "monthly_charges",
    }
