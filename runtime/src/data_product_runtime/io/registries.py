"""Choose the registry backend from the settings."""

from data_product_runtime.io.local_registry import LocalModelRegistry
from data_product_runtime.io.registry import ModelRegistry
from data_product_runtime.settings import Settings


def open_registry(settings: Settings) -> ModelRegistry:
    """The registry the settings point at, trusting the types they list."""
    registry: ModelRegistry
    if settings.registry_backend == "mlflow":
        # Imported only when used: the MLflow client is a large import.
        from data_product_runtime.io.mlflow_registry import MlflowModelRegistry

        registry = MlflowModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_model_name)
    else:
        registry = LocalModelRegistry(settings.model_dir)
    registry.project_trusted_types = settings.trusted_types
    return registry
