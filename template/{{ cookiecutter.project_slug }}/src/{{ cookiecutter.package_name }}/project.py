"""This project's decisions in one place; the runtime takes everything project-specific from here."""

from typing import Any

from data_product_runtime import Project
from data_product_runtime.core.dataset import Feature

from .data import COLUMNS, load_training_data
from .settings import Settings


# pipeline.py, and with it scikit-learn, is imported only to train: batch scoring starts without it.
def build_pipeline(hyperparameters: dict[str, Any], features: tuple[Feature, ...]) -> Any:
    from .pipeline import build_pipeline  # noqa: PLC0415

    return build_pipeline(hyperparameters, features)


def hyperparameters(settings: Settings) -> dict[str, Any]:
    from .pipeline import hyperparameters  # noqa: PLC0415

    return hyperparameters(settings)


PROJECT = Project(
    name="{{ cookiecutter.project_slug }}",
    title="{{ cookiecutter.project_name }}",
    description="{{ cookiecutter.description }}",
    problem_type="{{ cookiecutter.problem_type }}",
    settings=Settings,
    load_data=load_training_data,
    build_pipeline=build_pipeline,
    hyperparameters=hyperparameters,
    reference=f"{__package__}.project:PROJECT",  # where service workers import it from
    columns=COLUMNS,
)
