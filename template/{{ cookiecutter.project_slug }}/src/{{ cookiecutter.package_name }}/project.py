"""This project's decisions in one place; the runtime takes everything project-specific from here."""

from data_product_runtime import Project

from .data import load_training_data
from .pipeline import build_pipeline, hyperparameters
from .settings import Settings

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
)
