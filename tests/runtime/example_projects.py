"""Two small projects the runtime's tests run on, one per problem type, as a generated
project declares itself: bundled scikit-learn data and a linear pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic_settings import SettingsConfigDict

from data_product_runtime import Project
from data_product_runtime.core.dataset import Feature, columns, to_identifier
from data_product_runtime.examples import churn_table
from data_product_runtime.io.datasets import load_table
from data_product_runtime.settings import Settings

ENV_PREFIX = "EXAMPLE_"


class ExampleSettings(Settings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore")


def load_breast_cancer() -> pa.Table:
    from sklearn.datasets import load_breast_cancer as load  # noqa: PLC0415

    bunch = load()
    columns = {to_identifier(name): bunch.data[:, i] for i, name in enumerate(bunch.feature_names)}
    return pa.table({**columns, "target": np.asarray(bunch.target_names)[bunch.target]})


def load_diabetes() -> pa.Table:
    from sklearn.datasets import load_diabetes as load  # noqa: PLC0415

    bunch = load()
    columns = {to_identifier(name): bunch.data[:, i] for i, name in enumerate(bunch.feature_names)}
    return pa.table({**columns, "target": np.asarray(bunch.target, dtype=np.float64)})


BUNDLED = {"classification": load_breast_cancer, "regression": load_diabetes}
SOURCES = {"classification": "sklearn:breast_cancer", "regression": "sklearn:diabetes"}


def _loader(problem_type: str) -> Any:
    def load_data(settings: Settings) -> tuple[pa.Table, str]:
        if settings.data_path is not None:
            return load_table(settings.data_path)
        return BUNDLED[problem_type](), SOURCES[problem_type]

    return load_data


# scikit-learn is imported only when a pipeline is built, as in a generated project: batch
# scoring of a portable model must not import it (test_portable checks this).
def classifier(hyperparameters: dict[str, Any], features: tuple[Feature, ...]) -> Any:
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    return _linear(LogisticRegression(**hyperparameters), features)


def regressor(hyperparameters: dict[str, Any], features: tuple[Feature, ...]) -> Any:
    from sklearn.linear_model import Ridge  # noqa: PLC0415

    return _linear(Ridge(**hyperparameters), features)


def _linear(estimator: Any, features: tuple[Feature, ...]) -> Any:
    """Imputation and scaling for numbers-only tables (the bundled ones); for mixed tables,
    a column transformer that also encodes categories and derives date parts."""
    from sklearn.compose import ColumnTransformer  # noqa: PLC0415
    from sklearn.impute import SimpleImputer  # noqa: PLC0415
    from sklearn.pipeline import Pipeline, make_pipeline  # noqa: PLC0415
    from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: PLC0415

    from data_product_runtime.core.transformers import DateParts  # noqa: PLC0415

    numbers = columns(features, "number", "integer", "boolean")
    if len(numbers) == len(features):
        steps = [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        return Pipeline([*steps, ("estimator", estimator)])
    scaled = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    encoded = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    dated = make_pipeline(DateParts(), SimpleImputer(strategy="median"), StandardScaler())
    preprocess = ColumnTransformer(
        [
            ("numbers", scaled, numbers),
            ("categories", encoded, columns(features, "categorical")),
            ("dates", dated, columns(features, "datetime")),
        ]
    )
    return Pipeline([("preprocess", preprocess), ("estimator", estimator)])


def churn_loader(problem_type: str) -> Any:
    """The runtime's mixed-type example table instead of the bundled data."""

    def load_data(_: Settings) -> tuple[pa.Table, str]:
        return churn_table(problem_type), "example:churn"  # type: ignore[arg-type]

    return load_data


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


LEAN_SCORING = """
import json, sys
from typer.testing import CliRunner
from data_product_runtime.cli import build_cli
from example_projects import PROJECTS
app = build_cli(PROJECTS[sys.argv[3]])
result = CliRunner().invoke(app, ["score", sys.argv[1], sys.argv[2]])
heavy = sorted(name for name in ("sklearn", "skops", "pandas", "scipy.stats") if name in sys.modules)
print(json.dumps({"exit": result.exit_code, "output": result.output, "imported": heavy}))
"""


def score_in_a_fresh_process(
    registry_dir: Path, source: Path, output: Path, problem_type: str
) -> dict[str, Any]:
    """`score` in a new Python (this one has imported everything): its exit code, its output
    and which of scikit-learn, skops, pandas and scipy.stats it imported."""
    # The example projects are importable from this folder, as a project is from its package.
    path = os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
    environment = {**os.environ, f"{ENV_PREFIX}MODEL_DIR": str(registry_dir), "PYTHONPATH": path}
    result = subprocess.run(
        [sys.executable, "-c", LEAN_SCORING, str(source), str(output), problem_type],
        capture_output=True, text=True, check=True, env=environment,
    )  # fmt: skip
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return report
