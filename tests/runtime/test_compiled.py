"""The compiled predictor computes exactly what scikit-learn computes, for any pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, PolynomialFeatures, StandardScaler

from data_product_runtime.core.compiled import compile_pipeline
from data_product_runtime.core.dataset import Dataset
from data_product_runtime.core.model import Model


def test_the_trained_pipeline_compiles_fully_and_predicts_identically(
    model: Model, bundled: Dataset, problem_type: str
) -> None:
    predictor = compile_pipeline(model.pipeline)
    assert predictor.fallback_steps == ()
    rows = bundled.features
    if problem_type == "classification":
        assert predictor.predict_proba is not None
        np.testing.assert_allclose(
            predictor.predict_proba(rows), model.pipeline.predict_proba(rows), rtol=1e-12
        )
    np.testing.assert_array_equal(predictor.predict(rows), model.pipeline.predict(rows))


def test_missing_values_are_imputed_like_scikit_learn(model: Model, bundled: Dataset) -> None:
    rows = bundled.features[:50].copy()
    rows[::3, 2] = np.nan
    predictor = compile_pipeline(model.pipeline)
    np.testing.assert_array_equal(predictor.predict(rows), model.pipeline.predict(rows))


def _iris() -> tuple[Any, Any]:
    data = load_iris()
    return data.data, data.target


def _diabetes() -> tuple[Any, Any]:
    data = load_diabetes()
    return data.data, data.target


@pytest.mark.parametrize(
    ("steps", "data", "compiled", "fallback"),
    [
        (
            [("scale", MinMaxScaler()), ("model", LogisticRegression(max_iter=2000))],
            _iris,
            ("scale", "model"),
            (),
        ),
        (
            [("poly", PolynomialFeatures(2)), ("model", LogisticRegression(max_iter=5000))],
            _iris,
            ("model",),
            ("poly",),
        ),
        (
            [("impute", SimpleImputer()), ("model", LinearRegression())],
            _diabetes,
            ("impute", "model"),
            (),
        ),
        (
            [("scale", StandardScaler(with_mean=False)), ("model", Ridge())],
            _diabetes,
            ("scale", "model"),
            (),
        ),
        (
            [("scale", StandardScaler()), ("poly", PolynomialFeatures(2)), ("model", Ridge())],
            _diabetes,
            ("scale", "model"),
            ("poly",),
        ),
    ],
)
def test_other_pipelines_compile_or_fall_back_and_stay_equal(
    steps: list[tuple[str, Any]], data: Any, compiled: tuple[str, ...], fallback: tuple[str, ...]
) -> None:
    features, target = data()
    pipeline = Pipeline(steps).fit(features, target)
    predictor = compile_pipeline(pipeline)
    assert (predictor.compiled_steps, predictor.fallback_steps) == (compiled, fallback)
    np.testing.assert_allclose(predictor.predict(features), pipeline.predict(features), rtol=1e-9)
    if hasattr(pipeline, "predict_proba"):
        assert predictor.predict_proba is not None
        np.testing.assert_allclose(
            predictor.predict_proba(features),
            pipeline.predict_proba(features),
            rtol=1e-9,
            atol=1e-15,
        )


def test_an_unknown_estimator_falls_back_entirely() -> None:
    from sklearn.tree import DecisionTreeClassifier  # noqa: PLC0415

    features, target = _iris()
    tree = DecisionTreeClassifier(random_state=0).fit(features, target)
    predictor = compile_pipeline(tree)
    assert predictor.fallback_steps == ("model",)
    assert predictor.predict_proba is not None
    np.testing.assert_array_equal(predictor.predict_proba(features), tree.predict_proba(features))
