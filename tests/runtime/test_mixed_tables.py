"""A user's own table: an id, categories, a boolean, a date and gaps, through the whole runtime.

The example churn table is trained on with the column transformer a project's pipeline uses,
then served, scored in batch and evaluated; the JSON and Arrow encodings must agree exactly.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest
from fastapi.testclient import TestClient

from data_product_runtime import Project
from data_product_runtime.core.dataset import UNSEEN, Dataset, FeatureKind
from data_product_runtime.core.model import ModelMetadata
from data_product_runtime.core.portable import PortablePipeline
from data_product_runtime.core.scoring import check_batch
from data_product_runtime.examples import TARGETS, churn_table
from data_product_runtime.io.datasets import DataError, dataset_from_table
from data_product_runtime.io.files import FileReader, FileWriter
from data_product_runtime.io.local_registry import LocalModelRegistry
from data_product_runtime.jobs.scoring import score
from data_product_runtime.jobs.training import train
from data_product_runtime.service.validation import RequestError, RequestParser
from data_product_runtime.settings import Settings
from example_projects import churn_loader, score_in_a_fresh_process

RECORD = {
    "customer_id": "C99999",
    "plan": "premium",
    "region": "south",
    "tenure_months": 12,
    "monthly_charges": 71.5,
    "has_partner": True,
    "support_calls": 3,
    "signup_date": "2023-06-30",
}


@pytest.fixture(scope="session")
def churn_project(project: Project) -> Project:
    return replace(project, load_data=churn_loader(project.problem_type))


def _settings(project: Project, **values: Any) -> Settings:
    return project.settings(target_column=TARGETS[project.problem_type], **values)


@pytest.fixture(scope="session")
def churn(churn_project: Project) -> Dataset:
    return churn_project.dataset(_settings(churn_project))[0]


@pytest.fixture(scope="session")
def churn_registry(tmp_path_factory: pytest.TempPathFactory, churn_project: Project) -> Path:
    return tmp_path_factory.mktemp(f"churn-{churn_project.problem_type}")


@pytest.fixture(scope="session")
def churn_model(churn_project: Project, churn_registry: Path) -> ModelMetadata:
    return train(churn_project, _settings(churn_project, model_dir=churn_registry))


def test_roles_and_kinds_are_inferred_from_the_table(churn: Dataset) -> None:
    assert churn.keys == ("customer_id",)
    assert [(f.name, f.kind, f.optional) for f in churn.schema] == [
        ("plan", FeatureKind.CATEGORICAL, False),
        ("region", FeatureKind.CATEGORICAL, True),
        ("tenure_months", FeatureKind.INTEGER, False),
        ("monthly_charges", FeatureKind.NUMBER, True),
        ("has_partner", FeatureKind.BOOLEAN, False),
        ("support_calls", FeatureKind.INTEGER, False),
        ("signup_date", FeatureKind.DATETIME, False),
    ]
    assert churn.schema[0].categories == ("basic", "standard", "premium")  # most frequent first


def test_declared_roles_win_over_types(problem_type: str) -> None:
    table = churn_table(problem_type)  # type: ignore[arg-type]
    roles = {"support_calls": "categorical", "region": "ignored", "customer_id": "id"}
    dataset = dataset_from_table(table, TARGETS[problem_type], "churn", roles=roles)  # type: ignore[index]
    kinds = {feature.name: feature for feature in dataset.schema}
    assert "region" not in kinds
    assert kinds["support_calls"].kind is FeatureKind.CATEGORICAL
    assert kinds["support_calls"].categories is not None
    assert kinds["support_calls"].categories[0] == "1"


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        ({"nope": "id"}, "column roles name columns the table lacks: nope"),
        ({"plan": "colour"}, "column 'plan': 'colour' is not a valid ColumnRole"),
        ({"customer_id": "categorical"}, "different value in every row; declare it 'id' or"),
    ],
)
def test_unusable_roles_are_refused_in_one_line(roles: dict[str, str], message: str) -> None:
    with pytest.raises(DataError, match=message) as raised:
        dataset_from_table(churn_table("classification"), "churned", "churn", roles=roles)
    assert "\n" not in str(raised.value)


def test_json_and_arrow_encode_every_kind_alike(churn: Dataset) -> None:
    records = [
        RECORD,
        RECORD | {"plan": "platinum", "region": None, "monthly_charges": None},
        RECORD | {"has_partner": False, "signup_date": "2024-02-29T23:59:59.250+02:00"},
        {name: value for name, value in RECORD.items() if name not in {"region", "customer_id"}},
    ]
    parser = RequestParser(churn.schema, 100, churn.keys)
    parsed = parser.batch(orjson.dumps({"records": records}))
    arrow = check_batch(pa.RecordBatch.from_pylist(records), churn.schema)
    assert not arrow.problems
    np.testing.assert_array_equal(parsed.rows, arrow.matrix)
    assert parsed.rows[1, 0] == UNSEEN
    assert np.isnan(parsed.rows[1, 1])
    assert parsed.row_keys == [{"customer_id": "C99999"}] * 3 + [{}]
    texts = pa.RecordBatch.from_pylist(
        [
            {name: None if value is None else str(value) for name, value in r.items()}
            for r in records
        ]
    )
    as_text = check_batch(texts.select([f.name for f in churn.schema]), churn.schema)
    np.testing.assert_array_equal(as_text.matrix, arrow.matrix)


@pytest.mark.parametrize(
    ("change", "field", "kind"),
    [
        ({"tenure_months": "twelve"}, "tenure_months", "int_type"),
        ({"plan": 1.5}, "plan", "string_type"),
        ({"has_partner": "maybe"}, "has_partner", "bool_type"),
        ({"signup_date": "last june"}, "signup_date", "datetime_from_date_parsing"),
        ({"plan": None}, "plan", "string_type"),
        ({"colour": "red"}, "colour", "extra_forbidden"),
    ],
)
def test_a_wrong_value_is_a_422_naming_its_field(
    churn: Dataset, change: dict[str, Any], field: str, kind: str
) -> None:
    parser = RequestParser(churn.schema, 100, churn.keys)
    with pytest.raises(RequestError) as raised:
        parser.single(orjson.dumps({"features": RECORD | change}))
    assert [(p["loc"], p["type"]) for p in raised.value.detail] == [
        (["body", "features", field], kind)
    ]


def test_a_required_field_left_out_is_named(churn: Dataset) -> None:
    parser = RequestParser(churn.schema, 100, churn.keys)
    without = {name: value for name, value in RECORD.items() if name != "tenure_months"}
    with pytest.raises(RequestError) as raised:
        parser.single(orjson.dumps({"features": without}))
    assert raised.value.detail[0]["loc"] == ["body", "features", "tenure_months"]
    assert raised.value.detail[0]["type"] == "missing"


def test_the_mixed_pipeline_predicts_exactly_as_numpy_arithmetic(
    churn_model: ModelMetadata, churn_registry: Path, churn: Dataset
) -> None:
    assert churn_model.keys == ("customer_id",)
    assert churn_model.prediction == "arithmetic"
    model = LocalModelRegistry(churn_registry).load(churn_model.version)
    np.testing.assert_array_equal(
        model.outputs(churn.features), model.problem.outputs(model.pipeline, churn.features)
    )


def test_the_mixed_pipeline_has_a_portable_form_exact_on_gaps_and_unseen_categories(
    churn_model: ModelMetadata, churn_registry: Path, churn: Dataset
) -> None:
    assert churn_model.portable is not None
    registry = LocalModelRegistry(churn_registry)
    portable = registry.load(churn_model.version, portable=True)
    assert isinstance(portable.pipeline, PortablePipeline)
    full = registry.load(churn_model.version)
    rows = churn.features.copy()
    categorical = [i for i, f in enumerate(churn.schema) if f.kind == FeatureKind.CATEGORICAL]
    rows[::3, categorical] = UNSEEN  # as the service and batch scoring encode a new category
    assert np.isnan(rows).any()  # and the table's own gaps
    np.testing.assert_array_equal(portable.outputs(rows), full.problem.outputs(full.pipeline, rows))


def test_batch_scoring_of_a_mixed_table_imports_neither_scikit_learn_nor_pandas(
    churn_model: ModelMetadata, churn_registry: Path, tmp_path: Path, problem_type: str
) -> None:
    table = churn_table(problem_type, rows=200, seed=3).drop_columns([TARGETS[problem_type]])  # type: ignore[arg-type,index]
    source = tmp_path / "customers.csv"
    pa_csv.write_csv(table, source)
    report = score_in_a_fresh_process(churn_registry, source, tmp_path / "scores.csv", problem_type)
    assert report["exit"] == 0, report["output"]
    assert "scored 200 of 200 rows" in report["output"], report["output"]
    assert report["imported"] == []


def test_the_service_answers_unseen_categories_and_gaps_and_names_wrong_fields(
    churn_model: ModelMetadata, churn_registry: Path, server: Any
) -> None:
    client: TestClient
    with server(churn_registry) as client:
        unseen = RECORD | {"plan": "platinum", "region": None}
        del unseen["monthly_charges"]
        for record in (RECORD, unseen):
            answer = client.post("/predict", json={"features": record})
            assert answer.status_code == 200, answer.text
        wrong = client.post("/predict", json={"features": RECORD | {"monthly_charges": "a lot"}})
        assert wrong.status_code == 422
        assert wrong.json()["detail"][0]["loc"] == ["body", "features", "monthly_charges"]
        schema = client.get("/openapi.json").json()["components"]["schemas"]["Features"]
        assert schema["properties"]["signup_date"]["format"] == "date-time"
        assert "tenure_months" in schema["required"]
        assert "region" not in schema["required"]


def test_batch_scoring_carries_the_id_and_quarantines_bad_rows_with_it(
    churn_model: ModelMetadata, churn_registry: Path, tmp_path: Path, problem_type: str
) -> None:
    table = churn_table(problem_type, rows=50, seed=1).drop_columns([TARGETS[problem_type]])  # type: ignore[arg-type,index]
    rows = table.to_pylist()
    rows[7]["signup_date"] = "not a date"
    rows[9]["plan"] = "platinum"
    source = tmp_path / "customers.csv"
    texts = [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]
    pa_csv.write_csv(pa.Table.from_pylist(texts), source)
    model = LocalModelRegistry(churn_registry).load(churn_model.version)
    features = [feature.name for feature in model.metadata.features]
    reader = FileReader(
        str(source),
        numeric_columns=[],
        text_columns=[*features, "customer_id"],
        batch_rows=16,
        csv_block_bytes=1 << 16,
    )
    results = FileWriter(str(tmp_path / "scores.csv"), _schema(model))
    refused = FileWriter(str(tmp_path / "refused.csv"), _quarantine())
    summary = score(model, reader, results, refused, key_column="customer_id")
    assert (summary.scored, summary.quarantined) == (49, 1)
    scored = pa_csv.read_csv(tmp_path / "scores.csv")
    ids = scored.column("customer_id").to_pylist()
    assert "C00010" in ids  # an unseen plan is scored
    assert "C00008" not in ids
    quarantined = pa_csv.read_csv(tmp_path / "refused.csv").to_pylist()[0]
    assert quarantined["customer_id"] == "C00008"
    assert quarantined["reason"].startswith("signup_date: not a date")


def _schema(model: Any) -> pa.Schema:
    from data_product_runtime.core.scoring import result_schema  # noqa: PLC0415

    return result_schema(model, "customer_id")


def _quarantine() -> pa.Schema:
    from data_product_runtime.core.scoring import quarantine_schema  # noqa: PLC0415

    return quarantine_schema("customer_id")
