"""The whole flow through the project's own command line: train, evaluate against the
baseline, promote, serve and predict, then batch-score a file; on the bundled data and on a
mixed-type table with an id column, as you would bring your own."""

import csv
import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from data_product_runtime.core.dataset import Dataset
from data_product_runtime.service.asgi import app_from_settings

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.project import PROJECT

runner = CliRunner()


def _ok(*arguments: str) -> str:
    result = runner.invoke(app, list(arguments))
    assert result.exit_code == 0, result.output
    return result.output


def test_train_evaluate_serve_predict_and_score(bundled: Dataset, tmp_path: Path) -> None:
    models = str(tmp_path / "models")
    assert "as the candidate" in _ok("train", "--model-dir", models)
    report = tmp_path / "report"
    _ok("evaluate", "--against", "production", "--output", str(report), "--model-dir", models)
    assert (report / "index.html").is_file()
    _ok("promote", "candidate", "--alias", "production", "--model-dir", models)
    assert "production" in _ok("models", "list", "--model-dir", models)

    settings = PROJECT.settings(
        model_dir=Path(models), prediction_log=tmp_path / "predictions.jsonl"
    )
    record = dict(zip(bundled.feature_names, bundled.features[0].tolist(), strict=True))
    with TestClient(app_from_settings(PROJECT, settings)) as client:
        answer = client.post("/predict", json={"features": record})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if PROJECT.problem_type == "classification":
            assert body["prediction"] in body["probabilities"]
        else:
            assert isinstance(body["prediction"], float)
        assert client.post("/predict", json={"features": {}}).status_code == 422
        assert "model_predictions_total" in client.get("/metrics").text

    rows = tmp_path / "rows.csv"
    columns = {name: bundled.features[:20, i] for i, name in enumerate(bundled.feature_names)}
    pa_csv.write_csv(pa.table({"id": [f"r{i}" for i in range(20)], **columns}), rows)
    scored = tmp_path / "scored.csv"
    assert "scored 20 of 20 rows" in _ok("score", str(rows), str(scored), "--model-dir", models)
    with scored.open() as file:
        results = list(csv.DictReader(file))
    assert [result["id"] for result in results] == [f"r{i}" for i in range(20)]
    answered, written = body["prediction"], results[0]["prediction"]
    # One prediction path, but BLAS sums a single row in another order than a batch of rows.
    assert written == str(answered) or math.isclose(float(written), answered, rel_tol=1e-12)
    assert json.loads((tmp_path / "predictions.jsonl").read_text().splitlines()[0])["request_id"]


def test_your_own_mixed_type_table_from_training_to_scores(tmp_path: Path) -> None:
    models, table = str(tmp_path / "models"), tmp_path / "churn.csv"
    _ok("example-table", str(table), "--rows", "400")
    target = "churned" if PROJECT.problem_type == "classification" else "lifetime_value"
    _ok("train", "--data", str(table), "--target", target, "--model-dir", models)
    # Evaluated on the held-out rows of the table it was trained on, without naming it again.
    _ok("evaluate", "--output", str(tmp_path / "report"), "--model-dir", models)
    _ok("promote", "candidate", "--model-dir", models)

    record = {
        "customer_id": "C99999", "plan": "premium", "region": "south", "tenure_months": 12,
        "monthly_charges": 71.5, "has_partner": True, "support_calls": 3, "signup_date": "2023-06-30",
    }  # fmt: skip
    unseen = {**record, "plan": "platinum", "region": None}
    del unseen["monthly_charges"]
    settings = PROJECT.settings(model_dir=Path(models), prediction_log=tmp_path / "log.jsonl")
    with TestClient(app_from_settings(PROJECT, settings)) as client:
        for features in (record, unseen):
            answer = client.post("/predict", json={"features": features})
            assert answer.status_code == 200, answer.text
        wrong = client.post("/predict", json={"features": {**record, "tenure_months": "long"}})
        assert wrong.status_code == 422
        assert wrong.json()["detail"][0]["loc"] == ["body", "features", "tenure_months"]
    logged = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[0])
    assert logged["keys"] == {"customer_id": "C99999"}

    rows = pa_csv.read_csv(table).drop_columns([target]).slice(0, 30).to_pylist()
    rows[3]["signup_date"] = "someday"
    new = tmp_path / "new.csv"
    pa_csv.write_csv(pa.Table.from_pylist([{k: str(v) if v is not None else "" for k, v in r.items()} for r in rows]), new)  # fmt: skip
    scored = tmp_path / "scored.parquet"
    result = runner.invoke(app, ["score", str(new), str(scored), "--model-dir", models])
    assert result.exit_code == 3, result.output  # one row quarantined
    assert "scored 29 of 30 rows" in result.output
    quarantined = pq.read_table(tmp_path / "scored.quarantine.parquet").to_pylist()
    assert [(row["customer_id"], row["reason"].split(":")[0]) for row in quarantined] == [
        ("C00004", "signup_date")
    ]
    assert pq.read_table(scored).column("customer_id").to_pylist()[:4] == [
        "C00001", "C00002", "C00003", "C00005"
    ]  # fmt: skip
