"""Where the training data comes from: the bundled dataset, or your own CSV/Parquet table."""

import numpy as np

from data_product_runtime.core.dataset import Dataset, Feature, FeatureKind, to_identifier
from data_product_runtime.io.datasets import load_table
from {{ cookiecutter.package_name }}.settings import Settings

BUNDLED_SOURCE = "{% if cookiecutter.problem_type == 'classification' %}sklearn:breast_cancer{% else %}sklearn:diabetes{% endif %}"


def load_bundled() -> Dataset:
    """{% if cookiecutter.problem_type == 'classification' %}Breast cancer diagnosis (569 rows, 30 features), labels 'malignant'/'benign'{% else %}Diabetes progression (442 rows, 10 features){% endif %}."""
    # Imported here: batch scoring reads data without scikit-learn.
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


def load_training_data(settings: Settings) -> tuple[Dataset, str]:
    """The training table (``data_path``, else the bundled dataset) and where it came from."""
    if settings.data_path is None:
        return load_bundled(), BUNDLED_SOURCE
    return load_table(settings.data_path, settings.target_column)
