"""Held-out split, metrics, and the naive baseline every model must beat."""

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import train_test_split

from data_product_runtime.core.dataset import Dataset
from data_product_runtime.core.model import Model
from data_product_runtime.core.predictor import build_predictor
from data_product_runtime.core.problems import Label, Problem


def split(
    dataset: Dataset, problem: Problem, test_size: float, random_seed: int
) -> tuple[Dataset, Dataset]:
    """Deterministic train/test split, stratified where the problem type keeps a proportion."""
    rows = np.arange(len(dataset))
    train_rows, test_rows = train_test_split(
        rows, test_size=test_size, random_state=random_seed, stratify=problem.stratify(dataset)
    )
    return dataset.take(train_rows), dataset.take(test_rows)


def _outputs(
    pipeline: Any, problem: Problem, test: Dataset
) -> tuple[NDArray[np.float64], tuple[Label, ...] | None]:
    """A fitted pipeline's outputs on the test rows, through its predictor (the path the
    stored model takes everywhere else), and its classes."""
    predictor = build_predictor(pipeline, classifier=problem.name == "classification")
    return predictor.outputs(test.features), problem.classes(pipeline)


def score(pipeline: Any, problem: Problem, test: Dataset) -> dict[str, float]:
    """Metrics of a fitted pipeline on held-out data."""
    return problem.metrics(*_outputs(pipeline, problem, test), test.target)


def model_score(model: Model, test: Dataset) -> dict[str, float]:
    """Metrics of a stored model on held-out data."""
    return model.problem.metrics(model.outputs(test.features), model.metadata.classes, test.target)


def baseline_outputs(
    problem: Problem, train: Dataset, test: Dataset
) -> tuple[NDArray[np.float64], tuple[Label, ...] | None]:
    """The naive baseline's outputs on the test rows and its classes: fitted on the training
    rows, it ignores the features."""
    return _outputs(problem.baseline().fit(train.features, train.target), problem, test)


def baseline_score(problem: Problem, train: Dataset, test: Dataset) -> dict[str, float]:
    """Metrics of the naive baseline, fitted on the training rows, ignoring the features."""
    return score(problem.baseline().fit(train.features, train.target), problem, test)
