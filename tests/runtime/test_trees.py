"""Every estimator family the template offers, trained on the mixed-type table: tree ensembles
predict through treelite only when that matches the estimator; any other estimator runs its
own code, and says so."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from data_product_runtime import Project
from data_product_runtime.core.compiled import TREE_LIBRARY_ROWS
from data_product_runtime.core.dataset import Feature, columns
from data_product_runtime.core.transformers import EncodedLabels
from data_product_runtime.examples import TARGETS
from data_product_runtime.io.local_registry import LocalModelRegistry
from data_product_runtime.io.registry import ArtifactRefusedError
from data_product_runtime.jobs.training import TREE_TOLERANCE, train
from data_product_runtime.service.asgi import app_from_settings
from example_projects import churn_loader


def _estimator(family: str, classifier: bool) -> Any:
    # Imported per family: each test needs one of these libraries only.
    from lightgbm import LGBMClassifier, LGBMRegressor  # noqa: PLC0415
    from sklearn.ensemble import (  # noqa: PLC0415
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor  # noqa: PLC0415
    from xgboost import XGBClassifier, XGBRegressor  # noqa: PLC0415

    families: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "hist_gradient_boosting": (
            lambda: HistGradientBoostingClassifier(max_iter=30, random_state=0),
            lambda: HistGradientBoostingRegressor(max_iter=30, random_state=0),
        ),
        "random_forest": (
            lambda: RandomForestClassifier(n_estimators=20, min_samples_leaf=2, random_state=0),
            lambda: RandomForestRegressor(n_estimators=20, min_samples_leaf=2, random_state=0),
        ),
        "lightgbm": (
            lambda: LGBMClassifier(n_estimators=30, verbose=-1, random_state=0),
            lambda: LGBMRegressor(n_estimators=30, verbose=-1, random_state=0),
        ),
        "xgboost": (
            lambda: EncodedLabels(XGBClassifier(n_estimators=30, max_depth=3, random_state=0)),
            lambda: XGBRegressor(n_estimators=30, max_depth=3, random_state=0),
        ),
        "nearest_neighbours": (
            lambda: KNeighborsClassifier(n_neighbors=7),
            lambda: KNeighborsRegressor(n_neighbors=7),
        ),
    }
    return families[family][0 if classifier else 1]()


def _pipeline(
    family: str, classifier: bool
) -> Callable[[dict[str, Any], tuple[Feature, ...]], Any]:
    def build(_: dict[str, Any], features: tuple[Feature, ...]) -> Any:
        from sklearn.compose import ColumnTransformer  # noqa: PLC0415
        from sklearn.impute import SimpleImputer  # noqa: PLC0415
        from sklearn.pipeline import Pipeline  # noqa: PLC0415

        from data_product_runtime.core.transformers import DateParts  # noqa: PLC0415

        dates = ColumnTransformer(
            [("dates", DateParts(), columns(features, "datetime"))], remainder="passthrough"
        )
        steps: list[tuple[str, Any]] = [("preprocess", dates)]
        if family == "nearest_neighbours":  # no gaps allowed
            steps.append(("impute", SimpleImputer(strategy="median")))
        return Pipeline([*steps, ("estimator", _estimator(family, classifier))])

    return build


# What scikit-learn's nearest neighbours store, which neither skops nor the runtime trusts.
DISTANCE = "sklearn.metrics._dist_metrics.EuclideanDistance64"
TREES = ["hist_gradient_boosting", "random_forest", "lightgbm", "xgboost"]


def _project(project: Project, family: str) -> Project:
    return replace(
        project,
        load_data=churn_loader(project.problem_type),
        build_pipeline=_pipeline(family, project.problem_type == "classification"),
    )


@pytest.mark.parametrize("family", TREES)
def test_tree_ensembles_predict_through_treelite_as_their_library_does(
    project: Project, family: str, tmp_path: Path
) -> None:
    trees = _project(project, family)
    target = TARGETS[project.problem_type]
    trusted = _trusted(project, family)
    settings = trees.settings(model_dir=tmp_path, target_column=target, trusted_types=trusted)
    metadata = train(trees, settings)
    assert (metadata.prediction, metadata.compiled_trees) == ("compiled", True)
    assert metadata.prediction_difference is not None
    registry = LocalModelRegistry(tmp_path)
    registry.project_trusted_types = trusted
    model = registry.load(metadata.version)
    dataset, _ = trees.dataset(settings)
    fast = model.outputs(dataset.features)
    library = model.problem.outputs(model.pipeline, dataset.features)
    scale = max(1.0, float(np.abs(library).max()))
    assert np.abs(fast - library).max() <= TREE_TOLERANCE * scale
    if project.problem_type == "classification":
        assert np.array_equal(fast.argmax(axis=1), library.argmax(axis=1))
    # A large batch (batch scoring's) goes to the library itself, which walks rows faster.
    assert len(dataset.features) < TREE_LIBRARY_ROWS
    many = np.tile(dataset.features, (TREE_LIBRARY_ROWS // len(dataset.features) + 1, 1))
    np.testing.assert_array_equal(model.outputs(many), model.problem.outputs(model.pipeline, many))
    with TestClient(app_from_settings(trees, settings)) as client:
        assert client.get("/models").json()[0]["prediction"] == "compiled"


def _trusted(project: Project, family: str) -> tuple[str, ...]:
    return {
        "lightgbm": ("collections.OrderedDict", "lightgbm.basic.Booster", f"lightgbm.sklearn.LGBM{_kind(project)}"),
        "xgboost": ("xgboost.core.Booster", f"xgboost.sklearn.XGB{_kind(project)}"),
    }.get(family, ())  # fmt: skip


def _booster_fields(node: object) -> list[dict[str, Any]]:
    """The state skops stored for each LightGBM or XGBoost booster in an archive's schema."""
    if isinstance(node, list):
        return [field for item in node for field in _booster_fields(item)]
    if not isinstance(node, dict):
        return []
    if node.get("__class__") == "Booster":
        state = node["content"]["content"]
        return [state.get("_handle") or state["handle"]]
    return [field for value in node.values() for field in _booster_fields(value)]


@pytest.mark.parametrize("family", ["lightgbm", "xgboost"])
def test_boosters_are_stored_in_their_own_format_and_load_without_pickle(
    project: Project, family: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boosted = _project(project, family)
    trusted = _trusted(project, family)
    settings = boosted.settings(
        model_dir=tmp_path, target_column=TARGETS[project.problem_type], trusted_types=trusted
    )
    metadata = train(boosted, settings)
    registry = LocalModelRegistry(tmp_path)
    registry.project_trusted_types = trusted
    archive = zipfile.ZipFile(io.BytesIO(registry.read_artifact(metadata.version)))
    # skops's archive: a JSON schema, numpy arrays (readable without pickle) and raw bytes.
    for name in archive.namelist():
        assert name == "schema.json" or name.endswith((".npy", ".bin")), name
        if name.endswith(".npy"):
            np.load(io.BytesIO(archive.read(name)), allow_pickle=False)
    (stored,) = _booster_fields(json.loads(archive.read("schema.json")))

    def unpickling(*_: object, **__: object) -> None:
        raise AssertionError("the model was unpickled")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, unpickling)
    model = registry.load(metadata.version)
    monkeypatch.undo()
    estimator = model.pipeline.steps[-1][1]
    estimator = getattr(estimator, "estimator_", estimator)  # EncodedLabels holds XGBoost's
    rows = boosted.dataset(settings)[0].features
    if family == "lightgbm":
        import lightgbm  # noqa: PLC0415

        # LightGBM's own text model: what its Booster reads, giving the same raw scores.
        model_text = json.loads(stored["content"])  # skops keeps strings JSON-encoded
        assert model_text == estimator.booster_.model_to_string()
        text = lightgbm.Booster(model_str=model_text)
        encoded = model.pipeline[:-1].transform(rows)
        assert np.array_equal(text.predict(encoded, raw_score=True),
                              estimator.booster_.predict(encoded, raw_score=True))  # fmt: skip
        assert metadata.library_versions["lightgbm"] == lightgbm.__version__
    else:
        import xgboost  # noqa: PLC0415

        # XGBoost's own serialisation (UBJSON of its configuration and model), bytes as saved.
        raw = archive.read(stored["file"])
        assert raw.startswith(b"{")
        assert b"Config" in raw
        assert b"Model" in raw
        assert raw == bytes(estimator.get_booster().__getstate__()["handle"])
        assert xgboost.__version__ in metadata.library_versions.values()


def test_an_estimator_without_a_fast_path_is_trusted_by_the_line_training_gives(
    project: Project, tmp_path: Path
) -> None:
    knn = _project(project, "nearest_neighbours")
    settings = knn.settings(model_dir=tmp_path, target_column=TARGETS[project.problem_type])
    with pytest.raises(ArtifactRefusedError) as refused:
        train(knn, settings)
    line = str(refused.value).split("settings.py: ")[1]
    assert line == f'trusted_types: tuple[str, ...] = ("{DISTANCE}",)'
    assert LocalModelRegistry(tmp_path).versions() == []
    settings = settings.model_copy(update={"trusted_types": (DISTANCE,)})
    metadata = train(knn, settings)
    assert (metadata.prediction, metadata.compiled_trees) == ("partly compiled", False)
    assert metadata.prediction_difference == 0.0
    with TestClient(app_from_settings(knn, settings)) as client:
        assert client.get("/models").json()[0]["prediction"] == "partly compiled"


def _kind(project: Project) -> str:
    return "Classifier" if project.problem_type == "classification" else "Regressor"
