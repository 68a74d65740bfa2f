"""Settings, read from environment variables with this project's prefix, or from ``.env``.

The runtime's settings (registry, service, batch scoring; see its ``settings.py``) are
inherited: change a default here, or add a setting of your own.
"""

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from data_product_runtime.settings import Settings as RuntimeSettings


class Settings(RuntimeSettings):
    """Everything the project reads from its environment, with safe defaults."""

    model_config = SettingsConfigDict(env_prefix="{{ cookiecutter.package_name | upper }}_", env_file=".env", extra="ignore")

    registry_backend: Literal["local", "mlflow"] = Field(
        "{{ cookiecutter.registry }}", description="Where models live: model_dir, or an MLflow server."
    )
    mlflow_model_name: str = Field("{{ cookiecutter.project_slug }}", description="Registered model name in MLflow.")
    database_url: str = Field(
        "{% if cookiecutter.database == 'postgresql' %}postgresql+psycopg://localhost/{{ cookiecutter.package_name }}{% else %}sqlite:///data/scoring.sqlite{% endif %}",
        description="SQLAlchemy URL of the database that score-table reads and writes.",
    )
    trusted_types: tuple[str, ...] = Field(
{%- if cookiecutter.model_family == "lightgbm" %}
        (
            "collections.OrderedDict",
            "lightgbm.basic.Booster",
            "lightgbm.sklearn.LGBM{% if cookiecutter.problem_type == "classification" %}Classifier{% else %}Regressor{% endif %}",
        ),
{%- elif cookiecutter.model_family == "xgboost" %}
        (
            "xgboost.core.Booster",
            "xgboost.sklearn.XGB{% if cookiecutter.problem_type == "classification" %}Classifier{% else %}Regressor{% endif %}",
        ),
{%- else %}
        (),
{%- endif %}
        description="Types a model artifact may hold beyond scikit-learn's own; training names any it needs.",
    )
    kafka_group_id: str = Field(
        "{{ cookiecutter.project_slug }}-scorer",
        description="Consumer group whose committed offsets score-stream resumes from.",
    )
