"""Pure dataset code: schema, fingerprint, split."""

from __future__ import annotations

import numpy as np
import pytest

from data_product_runtime import Project
from data_product_runtime.core.dataset import Dataset, Feature, FeatureKind, to_identifier
from data_product_runtime.core.evaluation import split


@pytest.mark.parametrize(
    ("column", "identifier"),
    [
        ("mean radius", "mean_radius"),
        ("  Worst-Area (mm2) ", "worst_area_mm2"),
        ("age", "age"),
        ("2nd reading", "f_2nd_reading"),
        ("%", "f_"),
    ],
)
def test_column_names_become_identifiers(column: str, identifier: str) -> None:
    assert to_identifier(column) == identifier


def _tiny(values: list[list[float]], target: list[float]) -> Dataset:
    schema = (
        Feature(name="a", kind=FeatureKind.NUMBER),
        Feature(name="b", kind=FeatureKind.NUMBER),
    )
    return Dataset(np.array(values), np.array(target), schema, "y")


def test_fingerprint_is_stable_and_sensitive_to_every_value() -> None:
    data = _tiny([[1.0, 2.0], [3.0, 4.0]], [0.0, 1.0])
    assert data.fingerprint() == _tiny([[1.0, 2.0], [3.0, 4.0]], [0.0, 1.0]).fingerprint()
    assert data.fingerprint() != _tiny([[1.0, 2.0], [3.0, 4.5]], [0.0, 1.0]).fingerprint()
    assert data.fingerprint() != _tiny([[1.0, 2.0], [3.0, 4.0]], [1.0, 1.0]).fingerprint()


def test_fingerprint_of_text_labels(bundled: Dataset) -> None:
    relabelled = Dataset(bundled.features, bundled.target[::-1].copy(), bundled.schema, "target")
    assert bundled.fingerprint() != relabelled.fingerprint()


@pytest.mark.parametrize(
    ("values", "target", "message"),
    [
        ([[1.0, 2.0, 3.0]], [0.0], "3 feature columns but 2 feature names"),
        ([[1.0, 2.0]], [0.0, 1.0], "1 feature rows but 2 target values"),
    ],
)
def test_inconsistent_shapes_are_refused(
    values: list[list[float]], target: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _tiny(values, target)


def test_duplicate_feature_names_are_refused() -> None:
    schema = (Feature(name="a", kind=FeatureKind.NUMBER),) * 2
    with pytest.raises(ValueError, match="duplicate feature names"):
        Dataset(np.zeros((1, 2)), np.zeros(1), schema, "y")


def test_split_is_deterministic_and_disjoint(bundled: Dataset, project: Project) -> None:
    train, test = split(bundled, project.problem, test_size=0.25, random_seed=7)
    again_train, again_test = split(bundled, project.problem, test_size=0.25, random_seed=7)
    assert train.fingerprint() == again_train.fingerprint()
    assert test.fingerprint() == again_test.fingerprint()
    assert len(train) + len(test) == len(bundled)
    assert len(test) == pytest.approx(0.25 * len(bundled), abs=1)
    train_rows = {row.tobytes() for row in train.features}
    assert not any(row.tobytes() in train_rows for row in test.features)


def test_split_keeps_class_balance(bundled: Dataset, project: Project, problem_type: str) -> None:
    if problem_type != "classification":
        pytest.skip("a regression split keeps no class proportions")
    train, test = split(bundled, project.problem, test_size=0.25, random_seed=7)
    for label in np.unique(bundled.target):
        assert np.mean(train.target == label) == pytest.approx(
            np.mean(test.target == label), abs=0.02
        )
