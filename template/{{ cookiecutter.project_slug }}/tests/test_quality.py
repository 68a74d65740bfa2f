"""Model quality: the trained model must clearly beat the naive baseline on held-out data."""

import pytest

from {{ cookiecutter.package_name }}.core.evaluation import PRIMARY_METRIC, baseline_score, score, split
from {{ cookiecutter.package_name }}.core.model import Model, ModelMetadata
from {{ cookiecutter.package_name }}.io.datasets import load_bundled
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
    assert PRIMARY_METRIC in metrics


def test_recorded_metrics_are_reproducible_from_the_stored_model(
    model: Model, trained: ModelMetadata
) -> None:
    settings = Settings()
    train_set, test_set = split(load_bundled(), settings.test_size, settings.random_seed)
    assert test_set.fingerprint() == trained.test_data.sha256
    assert score(model.pipeline, test_set) == pytest.approx(trained.metrics)
    assert baseline_score(train_set, test_set) == pytest.approx(trained.baseline_metrics)
