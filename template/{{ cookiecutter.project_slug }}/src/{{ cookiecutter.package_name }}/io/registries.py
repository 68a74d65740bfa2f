"""Choose the registry backend from the settings."""

from {{ cookiecutter.package_name }}.io.local_registry import LocalModelRegistry
from {{ cookiecutter.package_name }}.io.registry import ModelRegistry
from {{ cookiecutter.package_name }}.settings import Settings


def open_registry(settings: Settings) -> ModelRegistry:
    """The registry the settings point at."""
{%- if cookiecutter.registry == 'mlflow' %}
    if settings.registry_backend == "mlflow":
        # Imported only when used: the MLflow client is a large import.
        from {{ cookiecutter.package_name }}.io.mlflow_registry import MlflowModelRegistry

        return MlflowModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_model_name)
{%- endif %}
    return LocalModelRegistry(settings.model_dir)
