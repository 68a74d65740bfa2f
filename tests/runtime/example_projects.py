"""Two small projects the runtime's tests run on, one per problem type, as a generated
project declares itself: bundled scikit-learn data and a linear pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic_settings import SettingsConfigDict

from data_product_runtime import Project
from data_product_runtime.core.dataset import Dataset, Feature, FeatureKind, to_identifier
from data_product_runtime.io.datasets import load_table
from data_product_runtime.settings import Settings

ENV_PREFIX = "EXAMPLE_"


class ExampleSettings(Settings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore")


def load_breast_cancer() -> Dataset:
    from sklearn.datasets import load_breast_cancer as load  # noqa: PLC0415

    bunch = load()
    schema = tuple(
        Feature(name=to_identifier(n), kind=FeatureKind.NUMBER) for n in bunch.feature_names
    )
    target = np.asarray(bunch.target_names)[bunch.target]
    return Dataset(np.asarray(bunch.data, dtype=np.float64), target, schema, "target")


def load_diabetes() -> Dataset:
    from sklearn.datasets import load_diabetes as load  # noqa: PLC0415

    bunch = load()
    schema = tuple(
        Feature(name=to_identifier(n), kind=FeatureKind.NUMBER) for n in bunch.feature_names
    )
    return Dataset(
        np.asarray(bunch.data), np.asarray(bunch.target, dtype=np.float64), schema, "target"
    )


BUNDLED = {"classification": load_breast_cancer, "regression": load_diabetes}
SOURCES = {"classification": "sklearn:breast_cancer", "regression": "sklearn:diabetes"}


def _loader(problem_type: str) -> Any:
    def load_data(settings: Settings) -> tuple[Dataset, str]:
        if settings.data_path is not None:
            return load_table(settings.data_path, settings.target_column)
        return BUNDLED[problem_type](), SOURCES[problem_type]

    return load_data


# scikit-learn is imported only when a pipeline is built, as in a generated project: batch
# scoring of a portable model must not import it (test_portable checks this).
def classifier(hyperparameters: dict[str, Any]) -> Any:
    from sklearn.impute import SimpleImputer  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("estimator", LogisticRegression(**hyperparameters)),
        ]
    )


def regressor(hyperparameters: dict[str, Any]) -> Any:
    from sklearn.impute import SimpleImputer  # noqa: PLC0415
    from sklearn.linear_model import Ridge  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("estimator", Ridge(**hyperparameters)),
        ]
    )


CLASSIFICATION = Project(
    name="example-classifier",
    title="Example classifier",
    description="Breast cancer diagnosis.",
    problem_type="classification",
    settings=ExampleSettings,
    load_data=_loader("classification"),
    build_pipeline=classifier,
    hyperparameters=lambda s: {"C": 1.0, "max_iter": 1000, "random_state": s.random_seed},
    reference="example_projects:CLASSIFICATION",
)
REGRESSION = Project(
    name="example-regressor",
    title="Example regressor",
    description="Diabetes progression.",
    problem_type="regression",
    settings=ExampleSettings,
    load_data=_loader("regression"),
    build_pipeline=regressor,
    hyperparameters=lambda s: {"alpha": 1.0, "random_state": s.random_seed},
    reference="example_projects:REGRESSION",
)
PROJECTS = {"classification": CLASSIFICATION, "regression": REGRESSION}
