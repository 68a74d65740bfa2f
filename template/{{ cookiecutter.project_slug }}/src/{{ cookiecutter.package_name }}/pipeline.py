"""The model: a scikit-learn ``Pipeline`` of preprocessing and estimator. Swap or add steps here."""

from typing import Any

from sklearn.impute import SimpleImputer
{%- if cookiecutter.problem_type == 'classification' %}
from sklearn.linear_model import LogisticRegression
{%- else %}
from sklearn.linear_model import Ridge
{%- endif %}
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from {{ cookiecutter.package_name }}.settings import Settings


def hyperparameters(settings: Settings) -> dict[str, Any]:
    """Estimator settings, recorded in each model's metadata."""
{%- if cookiecutter.problem_type == 'classification' %}
    return {"C": 1.0, "max_iter": 1000, "random_state": settings.random_seed}
{%- else %}
    return {"alpha": 1.0, "random_state": settings.random_seed}
{%- endif %}


def build_pipeline(hyperparameters: dict[str, Any]) -> Pipeline:
    """Median imputation, standard scaling, then the estimator."""
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
{%- if cookiecutter.problem_type == 'classification' %}
            ("estimator", LogisticRegression(**hyperparameters)),
{%- else %}
            ("estimator", Ridge(**hyperparameters)),
{%- endif %}
        ]
    )
