"""What the benchmarks measure: the project's model, or its preprocessing with another
estimator family, trained on the bundled data or on the mixed-type example table.

``--family`` keeps the project's preprocessing and swaps the estimator; LightGBM and
XGBoost must be installed (``uv add --group bench lightgbm xgboost-cpu``).
"""

import argparse
import importlib
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from data_product_runtime import Project
from data_product_runtime.core.dataset import Feature
from data_product_runtime.examples import TARGETS, churn_table

from {{ cookiecutter.package_name }}.project import PROJECT

# Family: module, (classifier, regressor), settings. One thread each: the service runs one
# process per core.
FAMILIES: dict[str, tuple[str, tuple[str, str], dict[str, Any]]] = {
    "linear": ("sklearn.linear_model", ("LogisticRegression", "Ridge"), {}),
    "hist_gradient_boosting": (
        "sklearn.ensemble",
        ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor"),
        {"max_iter": 100, "random_state": 0},
    ),
    "random_forest": (
        "sklearn.ensemble",
        ("RandomForestClassifier", "RandomForestRegressor"),
        {"n_estimators": 100, "min_samples_leaf": 2, "n_jobs": 1, "random_state": 0},
    ),
    "lightgbm": (
        "lightgbm",
        ("LGBMClassifier", "LGBMRegressor"),
        {"n_estimators": 100, "n_jobs": 1, "verbose": -1, "random_state": 0},
    ),
    "xgboost": (
        "xgboost",
        ("XGBClassifier", "XGBRegressor"),
        {"n_estimators": 100, "max_depth": 4, "n_jobs": 1, "random_state": 0},
    ),
}
TABLES = ("bundled", "churn")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """--family and --table, which every benchmark takes."""
    parser.add_argument(
        "--family",
        choices=["project", *FAMILIES],
        default="project",
        help="this estimator family in place of the project's (same preprocessing)",
    )
    parser.add_argument(
        "--table",
        choices=TABLES,
        default="bundled",
        help="numeric rows like the bundled data, or the mixed-type example table",
    )


def estimator(family: str) -> Any:
    module_name, (classifier, regressor), settings = FAMILIES[family]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise SystemExit(
            f"--family {family} needs {module_name}: uv add --group bench {module_name}"
        ) from None
    chosen = getattr(module, classifier if PROJECT.problem_type == "classification" else regressor)(
        **settings
    )
    if family == "xgboost" and PROJECT.problem_type == "classification":
        from data_product_runtime.core.transformers import EncodedLabels

        return EncodedLabels(chosen)  # XGBoost learns labels 0..k-1 only
    return chosen


def project_for(family: str, table: str) -> tuple[Project, dict[str, Any]]:
    """The project to train, and the settings to train and serve it with (the types of the
    estimator it swapped in trusted: the benchmark built them itself)."""
    build = PROJECT.build_pipeline
    project = PROJECT
    if family != "project":

        def build(hyperparameters: dict[str, Any], features: tuple[Feature, ...]) -> Any:
            return PROJECT.build_pipeline(hyperparameters, features).set_params(
                estimator=estimator(family)
            )

        project = replace(project, build_pipeline=build)
    settings: dict[str, Any] = {}
    if table == "churn":
        project = replace(
            project, load_data=lambda _: (churn_table(PROJECT.problem_type), "example:churn")
        )
        settings["target_column"] = TARGETS[PROJECT.problem_type]
    if family != "project":
        dataset, _ = project.dataset(project.settings(**settings))
        hyperparameters = project.hyperparameters(project.settings())
        fitted = project.build_pipeline(hyperparameters, dataset.schema).fit(
            dataset.features, dataset.target
        )
        settings["trusted_types"] = tuple(trusted_types(fitted))
    return project, settings


def trusted_types(pipeline: Any) -> list[str]:
    """The types of a pipeline the benchmark built itself, beyond what loading trusts already."""
    import skops.io as sio

    return list(sio.get_untrusted_types(data=sio.dumps(pipeline)))


def records(project: Project, settings: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """Request records as a client sends them: the table's own values, dates as ISO text."""
    table, _ = project.load_data(project.settings(**settings))
    if not hasattr(table, "to_pylist"):
        raise SystemExit("the project's load_data must return a pyarrow Table for the benchmarks")
    dataset, _ = project.dataset(project.settings(**settings))
    wanted = [*dataset.keys, *dataset.feature_names]
    rows = table.select([name for name in table.column_names if name in wanted]).slice(0, count)
    return [
        {
            name: value.isoformat() if isinstance(value, date | datetime) else value
            for name, value in row.items()
        }
        for row in rows.to_pylist()
    ]


def encoder(metadata: Any) -> Any:
    """How pandas code usually turns a frame into the model's numbers: categories by their
    training position (-1 when unseen), booleans as 0/1, dates as seconds since 1970."""
    import pandas as pd

    names = list(metadata.feature_names)
    codes = {
        f.name: {c: float(i) for i, c in enumerate(f.categories)}
        for f in metadata.features
        if f.categories is not None
    }
    dates = [f.name for f in metadata.features if f.kind == "datetime"]

    def encode(frame: "pd.DataFrame") -> Any:
        frame = frame[names].copy()
        for name, known in codes.items():
            text = frame[name].astype("string")
            frame[name] = (
                text.map(known).astype(float).where(text.isna() | text.isin(list(known)), -1.0)
            )
        for name in dates:
            frame[name] = (
                pd.to_datetime(frame[name], utc=True, format="ISO8601").astype("int64") / 1e9
            )
        return frame.astype(float).to_numpy()

    return encode
