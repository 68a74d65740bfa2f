"""The usual way to serve a scikit-learn model, as the baseline of the serving benchmark.

Flask behind gunicorn, a pandas DataFrame built from each request's JSON, ``predict_proba``
on it. It loads the same registry version as the real service, so both compute the same
predictions; only the serving stack differs. Run: ``gunicorn -w 2 'reference_service:app'``.
"""

import json
import os
import warnings
from pathlib import Path

import pandas as pd
import setups
from flask import Flask, Response, jsonify, request

from data_product_runtime.io.local_registry import LocalModelRegistry

# The pipeline was fitted on arrays; scikit-learn warns about DataFrame column names.
warnings.filterwarnings("ignore", message="X has feature names")

registry = LocalModelRegistry(Path(os.environ.get("REFERENCE_MODEL_DIR", "models")))
registry.project_trusted_types = tuple(json.loads(os.environ.get("REFERENCE_TRUSTED_TYPES", "[]")))
model = registry.load(os.environ.get("REFERENCE_MODEL_VERSION"))
encoded = setups.encoder(model.metadata)
CLASSIFIER = model.metadata.problem_type == "classification"
app = Flask(__name__)


@app.post("/predict")
def predict() -> Response:
    frame = encoded(pd.DataFrame([request.get_json()["features"]]))
    if not CLASSIFIER:
        return jsonify(
            prediction=float(model.pipeline.predict(frame)[0]), model_version=model.version
        )
    probabilities = model.pipeline.predict_proba(frame)[0]
    classes = [str(label) for label in model.pipeline.classes_]
    return jsonify(
        prediction=classes[int(probabilities.argmax())],
        probabilities=dict(zip(classes, probabilities.tolist(), strict=True)),
        model_version=model.version,
    )


@app.post("/predict/batch")
def predict_batch() -> Response:
    frame = encoded(pd.DataFrame(request.get_json()["records"]))
    if not CLASSIFIER:
        values = model.pipeline.predict(frame)
        return jsonify(
            predictions=[{"prediction": float(v)} for v in values], model_version=model.version
        )
    probabilities = model.pipeline.predict_proba(frame)
    classes = [str(label) for label in model.pipeline.classes_]
    predictions = [
        {
            "prediction": classes[int(row.argmax())],
            "probabilities": dict(zip(classes, row.tolist(), strict=True)),
        }
        for row in probabilities
    ]
    return jsonify(predictions=predictions, model_version=model.version)
