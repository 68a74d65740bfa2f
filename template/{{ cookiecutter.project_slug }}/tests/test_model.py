"""Model quality: the pipeline must clearly beat the naive baseline on held-out data."""

from pathlib import Path

import numpy as np
import pytest

from data_product_runtime.core.evaluation import baseline_score, score, split
from data_product_runtime.core.model import ModelMetadata
from data_product_runtime.io.local_registry import LocalModelRegistry
from {{ cookiecutter.package_name }}.data import load_bundled
from {{ cookiecutter.package_name }}.pipeline import build_pipeline, hyperparameters
from {{ cookiecutter.package_name }}.project import PROJECT
from {{ cookiecutter.package_name }}.settings import Settings


def test_model_beats_the_baseline_by_a_clear_margin(trained: ModelMetadata) -> None:
    metrics, baseline = trained.metrics, trained.baseline_metrics
{%- if cookiecutter.problem_type == 'classification' %}
    assert metrics["roc_auc"] >= baseline["roc_auc"] + 0.3
    assert metrics["accuracy"] >= baseline["accuracy"] + 0.2
    assert metrics["f1"] >= baseline["f1"] + 0.3
    assert metrics["log_loss"] <= 0.5 * baseline["log_loss"]
{%- else %}
    assert metrics["r2"] >= baseline["r2"] + 0.3
    assert metrics["rmse"] <= 0.85 * baseline["rmse"]
    assert metrics["mae"] <= 0.85 * baseline["mae"]
{%- endif %}
    assert PROJECT.problem.primary_metric in metrics


def test_recorded_metrics_are_reproducible_from_the_stored_model(
    registry_dir: Path, trained: ModelMetadata
) -> None:
    settings = Settings()
    model = LocalModelRegistry(registry_dir).load(trained.version)
    problem = PROJECT.problem
    train_set, test_set = split(load_bundled(), problem, settings.test_size, settings.random_seed)
    assert test_set.fingerprint() == trained.test_data.sha256
    assert score(model.pipeline, problem, test_set) == pytest.approx(trained.metrics)
    assert baseline_score(problem, train_set, test_set) == pytest.approx(trained.baseline_metrics)


def test_training_is_deterministic() -> None:
    settings = Settings()
    bundled = load_bundled()
    first = build_pipeline(hyperparameters(settings)).fit(bundled.features, bundled.target)
    second = build_pipeline(hyperparameters(settings)).fit(bundled.features, bundled.target)
    np.testing.assert_array_equal(
        PROJECT.problem.outputs(first, bundled.features),
        PROJECT.problem.outputs(second, bundled.features),
    )
