"""Held-out split, metrics, and the naive baseline every model must beat."""

from typing import Any

import numpy as np
{%- if cookiecutter.problem_type == 'classification' %}
from sklearn.dummy import DummyClassifier
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
{%- else %}
from sklearn.dummy import DummyRegressor
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
{%- endif %}
from sklearn.model_selection import train_test_split

from {{ cookiecutter.package_name }}.core.dataset import Dataset

{%- if cookiecutter.problem_type == 'classification' %}

# The metric that decides whether one model is better than another (higher is better).
PRIMARY_METRIC = "roc_auc"
{%- else %}

# The metric that decides whether one model is better than another (higher is better).
PRIMARY_METRIC = "r2"
{%- endif %}


def split(dataset: Dataset, test_size: float, random_seed: int) -> tuple[Dataset, Dataset]:
    """Deterministic train/test split{% if cookiecutter.problem_type == 'classification' %}, stratified by class{% endif %}."""
    rows = np.arange(len(dataset))
    train_rows, test_rows = train_test_split(
        rows,
        test_size=test_size,
        random_state=random_seed,
{%- if cookiecutter.problem_type == 'classification' %}
        stratify=dataset.target,
{%- endif %}
    )
    return dataset.take(train_rows), dataset.take(test_rows)


def score(model: Any, test: Dataset) -> dict[str, float]:
    """Metrics of a fitted estimator on held-out data."""
{%- if cookiecutter.problem_type == 'classification' %}
    classes = model.classes_
    probabilities = model.predict_proba(test.features)
    predicted = classes[probabilities.argmax(axis=1)]
    if len(classes) == 2:  # noqa: PLR2004  (binary: ROC AUC of the positive class)
        roc_auc = roc_auc_score(test.target == classes[1], probabilities[:, 1])
    else:
        roc_auc = roc_auc_score(test.target, probabilities, multi_class="ovr", labels=classes)
    return {
        "accuracy": float(accuracy_score(test.target, predicted)),
        "roc_auc": float(roc_auc),
        "f1": float(f1_score(test.target, predicted, average="macro")),
        "log_loss": float(log_loss(test.target, probabilities, labels=classes)),
    }
{%- else %}
    predicted = model.predict(test.features)
    return {
        "rmse": float(root_mean_squared_error(test.target, predicted)),
        "mae": float(mean_absolute_error(test.target, predicted)),
        "r2": float(r2_score(test.target, predicted)),
    }
{%- endif %}


def baseline_score(train: Dataset, test: Dataset) -> dict[str, float]:
    """Metrics of the naive baseline: {% if cookiecutter.problem_type == 'classification' %}class frequencies{% else %}the training mean{% endif %}, ignoring the features."""
{%- if cookiecutter.problem_type == 'classification' %}
    baseline = DummyClassifier(strategy="prior").fit(train.features, train.target)
{%- else %}
    baseline = DummyRegressor(strategy="mean").fit(train.features, train.target)
{%- endif %}
    return score(baseline, test)
