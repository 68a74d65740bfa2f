"""What a project tells the runtime: its name, problem type, settings, data and pipeline.

The generated project builds one :class:`Project` (``<package>/project.py``); the runtime's
commands, service and jobs take everything project-specific from it.
"""

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import pyarrow as pa

from data_product_runtime.core.dataset import ColumnRole, Dataset, Feature
from data_product_runtime.core.problems import Problem, ProblemType, problem_for
from data_product_runtime.settings import Settings

# Service workers and Spark executors find the project through this variable ("module:name").
PROJECT_VARIABLE = "DATA_PRODUCT_RUNTIME_PROJECT"


@dataclass(frozen=True)
class Project:
    """A project's decisions; everything else is the runtime's."""

    name: str
    """Distribution and command name, for example ``churn-model``."""
    title: str
    description: str
    problem_type: ProblemType
    settings: type[Settings]
    # Called with an instance of ``settings`` (hence Any: the project's own subclass).
    load_data: Callable[[Any], tuple[Any, str]]
    """The training table (a pyarrow Table or a pandas DataFrame) and where it came from."""
    build_pipeline: Callable[[dict[str, Any], tuple[Feature, ...]], Any]
    """An unfitted scikit-learn estimator (usually a Pipeline) for these hyper-parameters and
    features (their kinds say which columns to scale and which to encode)."""
    hyperparameters: Callable[[Any], dict[str, Any]]
    """Estimator settings, recorded in each model's metadata."""
    reference: str
    """Where this object can be imported from, ``module:attribute``."""
    columns: Mapping[str, ColumnRole | str] = field(default_factory=dict)
    """Roles of the table's columns where their types do not say it (an id, a category...)."""

    @cached_property
    def problem(self) -> Problem:
        return problem_for(self.problem_type)

    def dataset(
        self, settings: Settings, features: tuple[Feature, ...] | None = None
    ) -> tuple[Dataset, str]:
        """The training table as the pipeline sees it, with a model's ``features`` if given."""
        from data_product_runtime.io.datasets import dataset_from_table  # noqa: PLC0415

        table, source = self.load_data(settings)
        if not isinstance(table, pa.Table):
            table = pa.Table.from_pandas(table, preserve_index=False)
        dataset = dataset_from_table(
            table, settings.target_column, source, roles=self.columns, features=features
        )
        return dataset, source

    @property
    def version(self) -> str:
        try:
            return version(self.name)
        except PackageNotFoundError:
            return "0+unknown"

    @property
    def env_prefix(self) -> str:
        return str(self.settings.model_config.get("env_prefix", ""))

    def export(self) -> None:
        """Make this project findable by processes started from this one (workers, executors)."""
        os.environ[PROJECT_VARIABLE] = self.reference


def project_from_environment() -> Project:
    """The project a parent process exported (see :meth:`Project.export`)."""
    reference = os.environ.get(PROJECT_VARIABLE)
    if not reference or ":" not in reference:
        msg = f"{PROJECT_VARIABLE} is not set to 'module:attribute' of the project"
        raise RuntimeError(msg)
    module, attribute = reference.split(":", 1)
    found = getattr(importlib.import_module(module), attribute)
    if not isinstance(found, Project):
        msg = f"{reference} is not a Project"
        raise TypeError(msg)
    return found
