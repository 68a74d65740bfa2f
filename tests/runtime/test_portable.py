"""The portable form scores exactly like the pipeline, and batch scoring runs on it alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from data_product_runtime.core.compiled import portable_form
from data_product_runtime.core.dataset import Dataset
from data_product_runtime.core.model import Model, ModelMetadata
from data_product_runtime.core.portable import PortableForm, PortablePipeline
from data_product_runtime.core.scoring import _as_floats, from_numpy, from_texts
from data_product_runtime.io.local_registry import LocalModelRegistry
from example_projects import score_in_a_fresh_process


def test_training_stores_the_portable_form(trained: ModelMetadata, model: Model) -> None:
    assert trained.portable is not None
    assert trained.portable == portable_form(model.pipeline)


def test_the_portable_form_predicts_exactly_like_the_pipeline(
    model: Model, bundled: Dataset, problem_type: str
) -> None:
    form = portable_form(model.pipeline)
    assert form is not None
    # Stored as JSON and read back: the numbers survive the round trip bit for bit.
    portable = PortablePipeline(PortableForm.model_validate_json(form.model_dump_json()))
    rows = bundled.features
    np.testing.assert_array_equal(portable.predict(rows), model.pipeline.predict(rows))
    if problem_type == "classification":
        np.testing.assert_array_equal(
            portable.predict_proba(rows), model.pipeline.predict_proba(rows)
        )
        np.testing.assert_array_equal(portable.classes_, model.pipeline.classes_)


def test_three_classes_use_softmax_and_stay_exact() -> None:
    data = load_iris()
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    pipeline.fit(data.data, data.target)
    form = portable_form(pipeline)
    assert form is not None
    assert form.output.link == "softmax"
    portable = PortablePipeline(form)
    np.testing.assert_array_equal(
        portable.predict_proba(data.data), pipeline.predict_proba(data.data)
    )
    np.testing.assert_array_equal(portable.predict(data.data), pipeline.predict(data.data))


def test_a_step_without_a_portable_form_leaves_the_model_to_its_artifact() -> None:
    data = load_iris()
    pipeline = Pipeline(
        [("poly", PolynomialFeatures(2)), ("model", LogisticRegression(max_iter=5000))]
    )
    assert portable_form(pipeline.fit(data.data, data.target)) is None


def test_the_registry_builds_the_portable_model_without_the_artifact(
    registry_dir: Path, trained: ModelMetadata, bundled: Dataset
) -> None:
    registry = LocalModelRegistry(registry_dir)
    portable = registry.load(trained.version, portable=True)
    assert isinstance(portable.pipeline, PortablePipeline)
    full = registry.load(trained.version)
    assert not isinstance(full.pipeline, PortablePipeline)
    np.testing.assert_array_equal(
        portable.pipeline.predict(bundled.features), full.pipeline.predict(bundled.features)
    )


@pytest.mark.usefixtures("trained")
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_batch_scoring_imports_neither_scikit_learn_nor_pandas(
    registry_dir: Path,
    bundled: Dataset,
    problem_type: str,
    tmp_path: Path,
    suffix: str,
) -> None:
    source = tmp_path / f"features{suffix}"
    columns = {name: bundled.features[:, i] for i, name in enumerate(bundled.feature_names)}
    table = pa.table({"id": [str(i) for i in range(len(bundled))], **columns})
    if suffix == ".csv":
        import pyarrow.csv as pa_csv  # noqa: PLC0415

        pa_csv.write_csv(table, source)
    else:
        import pyarrow.parquet as pq  # noqa: PLC0415

        pq.write_table(table, source)
    report = score_in_a_fresh_process(
        registry_dir, source, tmp_path / f"scores{suffix}", problem_type
    )
    assert report["exit"] == 0, report["output"]
    assert report["imported"] == []


def test_arrow_arrays_from_buffers_equal_what_pyarrow_builds() -> None:
    assert from_numpy(np.array([1.5, -2.0])).equals(pa.array([1.5, -2.0]))
    assert from_numpy(np.array([3, 4], dtype=np.int64)).equals(pa.array([3, 4], pa.int64()))
    mask = np.array([True, False, True, True, False, False, True, False, True])
    assert from_numpy(mask).equals(pa.array(mask.tolist()))
    assert from_texts(["a", "", "été"]).equals(pa.array(["a", "", "été"]))
    assert from_texts([]).equals(pa.array([], pa.string()))


def test_float_columns_read_with_nulls_and_offsets() -> None:
    column = pa.array([1.0, None, 3.0, 4.0, None, 6.0], pa.float64())
    np.testing.assert_array_equal(_as_floats(column), [1.0, np.nan, 3.0, 4.0, np.nan, 6.0])
    np.testing.assert_array_equal(_as_floats(column.slice(2, 3)), [3.0, 4.0, np.nan])
    np.testing.assert_array_equal(_as_floats(pa.array([7.0, 8.0]).slice(1)), [8.0])
