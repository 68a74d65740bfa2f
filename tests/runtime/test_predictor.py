"""The one prediction path: every consumer computes a model's outputs through its predictor,
the fastest exact implementation the runtime has for the pipeline."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from data_product_runtime import Project
from data_product_runtime.core.dataset import Dataset
from data_product_runtime.core.evaluation import model_score
from data_product_runtime.core.model import Model, ModelMetadata
from data_product_runtime.core.predictor import build_predictor
from data_product_runtime.io.local_registry import LocalModelRegistry
from data_product_runtime.jobs.training import train


def test_the_default_pipeline_runs_as_arithmetic_equal_to_scikit_learn(
    model: Model, bundled: Dataset, trained: ModelMetadata
) -> None:
    assert model.predictor.implementation == trained.prediction == "arithmetic"
    np.testing.assert_allclose(
        model.outputs(bundled.features),
        model.problem.outputs(model.pipeline, bundled.features),
        rtol=1e-12,
    )


def test_batch_scoring_loads_the_portable_form_with_the_same_outputs(
    registry_dir: Path, trained: ModelMetadata, model: Model, bundled: Dataset
) -> None:
    portable = LocalModelRegistry(registry_dir).load(trained.version, portable=True)
    assert portable.pipeline is not model.pipeline
    assert portable.predictor.compiled_steps == ("portable form",)
    np.testing.assert_allclose(
        portable.outputs(bundled.features), model.outputs(bundled.features), rtol=1e-12
    )


def test_evaluation_reproduces_the_recorded_metrics_through_the_predictor(
    model: Model, trained: ModelMetadata, project: Project
) -> None:
    from data_product_runtime.core.evaluation import split  # noqa: PLC0415

    settings = project.settings()
    dataset, _ = project.dataset(settings)
    _, test_set = split(dataset, project.problem, settings.test_size, settings.random_seed)
    assert model_score(model, test_set) == pytest.approx(trained.metrics)


def _boosting(problem_type: str) -> Pipeline:
    estimator = (
        HistGradientBoostingClassifier(max_iter=20, random_state=0)
        if problem_type == "classification"
        else HistGradientBoostingRegressor(max_iter=20, random_state=0)
    )
    return Pipeline(
        [("impute", SimpleImputer()), ("scale", StandardScaler()), ("estimator", estimator)]
    )


def test_a_swapped_estimator_is_trained_served_and_says_how_it_predicts(
    project: Project, tmp_path: Path, bundled: Dataset
) -> None:
    boosted = replace(project, build_pipeline=lambda _, __: _boosting(project.problem_type))
    metadata = train(boosted, boosted.settings(model_dir=tmp_path))
    assert (metadata.prediction, metadata.compiled_trees) == ("compiled", True)
    assert metadata.prediction_difference is not None
    assert metadata.prediction_difference < 1e-9
    model = LocalModelRegistry(tmp_path).load(metadata.version)
    assert model.predictor.compiled_steps == ("impute", "scale", "estimator")
    assert model.predictor.fallback_steps == ()
    np.testing.assert_allclose(
        model.outputs(bundled.features),
        model.problem.outputs(model.pipeline, bundled.features),
        rtol=1e-9,
        atol=1e-12,
    )
    from data_product_runtime.service.asgi import app_from_settings  # noqa: PLC0415

    with TestClient(app_from_settings(boosted, boosted.settings(model_dir=tmp_path))) as client:
        assert client.get("/models").json()[0]["prediction"] == "compiled"


def test_a_classifier_without_probabilities_is_refused_in_one_line(bundled: Dataset) -> None:
    fitted = LinearSVC().fit(bundled.features[:100], np.arange(100) % 2)
    with pytest.raises(TypeError, match="no class probabilities"):
        build_predictor(fitted, classifier=True)


@pytest.mark.parametrize("portable", [True, False])
def test_a_model_ships_to_spark_executors_as_numbers_not_functions(
    registry_dir: Path, trained: ModelMetadata, bundled: Dataset, portable: bool
) -> None:
    """cloudpickle would look numpy's functions up in every imported module (and trip over
    modules that warn on attribute access); a model pickles without its predictor, and the
    portable form as its numbers."""
    from pyspark import cloudpickle  # noqa: PLC0415

    model = LocalModelRegistry(registry_dir).load(trained.version, portable=portable)
    expected = model.outputs(bundled.features[:20])  # the predictor is built and cached
    shipped: bytes = cloudpickle.dumps(model)  # type: ignore[no-untyped-call]
    assert b"expit" not in shipped
    assert b"softmax" not in shipped
    received = pickle.loads(shipped)  # noqa: S301  (bytes this test made)
    np.testing.assert_array_equal(received.outputs(bundled.features[:20]), expected)
