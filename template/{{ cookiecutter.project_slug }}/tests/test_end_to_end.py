"""The whole flow through the project's own command line: train, evaluate against the
baseline, promote, serve and predict, then batch-score a file."""

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
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
    assert results[0]["prediction"] == str(body["prediction"]) or float(
        results[0]["prediction"]
    ) == float(body["prediction"])
    assert json.loads((tmp_path / "predictions.jsonl").read_text().splitlines()[0])["request_id"]
