"""Settings, read from ``{{ cookiecutter.package_name | upper }}_*`` environment variables or ``.env``.

The runtime's settings (registry, service, batch scoring) are inherited; change a default
here, or add a setting of your own.
"""
{%- if cookiecutter.registry == 'mlflow' %}

from typing import Literal
{%- endif %}

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from data_product_runtime.settings import Settings as RuntimeSettings


class Settings(RuntimeSettings):
    """Everything the project reads from its environment, with safe defaults."""

    model_config = SettingsConfigDict(env_prefix="{{ cookiecutter.package_name | upper }}_", env_file=".env", extra="ignore")

{%- if cookiecutter.registry == 'mlflow' %}
    registry_backend: Literal["local", "mlflow"] = Field(
        "mlflow", description="Where models live: the MLflow server, or model_dir."
    )
    mlflow_model_name: str = Field(
        "{{ cookiecutter.project_slug }}", description="Registered model name in MLflow."
    )
{%- endif %}
    database_url: str = Field(
{%- if cookiecutter.database == 'postgresql' %}
        "postgresql+psycopg://localhost/{{ cookiecutter.package_name }}",
{%- else %}
        "sqlite:///data/scoring.sqlite",
{%- endif %}
        description="SQLAlchemy URL of the database that score-table reads and writes.",
    )
{%- if cookiecutter.stream == 'kafka' %}
    kafka_group_id: str = Field(
        "{{ cookiecutter.project_slug }}-scorer",
        description="Consumer group whose committed offsets score-stream resumes from.",
    )
{%- endif %}
