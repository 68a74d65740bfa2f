"""ONNX export: the same model for a Java, C# or C++ service, proven to predict the same.

ONNX's imputer works in 32-bit floats, so the exported model takes float32 features; the
parity check compares it with scikit-learn's float64 predictions within ``TOLERANCE``.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType

from data_product_runtime.core.model import Model

INPUT_NAME = "features"
# Largest difference allowed between ONNX Runtime and scikit-learn: absolute for
# probabilities, relative to the target's scale for regression values.
TOLERANCE = 1e-5
_OPSETS = {"": 18, "ai.onnx.ml": 3}


class ParityError(AssertionError):
    """The exported model does not predict what the scikit-learn model predicts."""


@dataclass(frozen=True)
class Exported:
    path: Path
    sha256: str
    max_difference: float


def convert(model: Model) -> bytes:
    """The pipeline as an ONNX graph with one float32 input of shape (rows, features)."""
    pipeline = model.pipeline
    columns = len(model.metadata.features)
    classifier = model.metadata.problem_type == "classification"
    graph = to_onnx(
        pipeline,
        initial_types=[(INPUT_NAME, FloatTensorType([None, columns]))],
        # Plain probability arrays instead of a list of maps: what other runtimes expect.
        options={id(pipeline.steps[-1][1]): {"zipmap": False}} if classifier else None,
        target_opset=_OPSETS,
    )
    return bytes(graph.SerializeToString())


def run(onnx_model: bytes, rows: NDArray[np.float64]) -> NDArray[np.float64]:
    """Class probabilities (classifiers) or values from ONNX Runtime, as another runtime
    would compute them."""
    session = ort.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {INPUT_NAME: rows.astype(np.float32)})
    if len(outputs) > 1:  # a classifier: labels, then probabilities
        return np.asarray(outputs[1], dtype=np.float64)
    return np.asarray(outputs[0], dtype=np.float64).ravel()


def parity(model: Model, onnx_model: bytes, rows: NDArray[np.float64]) -> float:
    """Largest difference between the two runtimes on rows; ParityError above TOLERANCE."""
    expected = model.problem.outputs(model.pipeline, rows)  # scikit-learn's own
    scale = 1.0 if expected.ndim == 2 else max(float(np.max(np.abs(expected))), 1.0)  # noqa: PLR2004
    difference = float(np.max(np.abs(run(onnx_model, rows) - expected))) / scale
    if not difference <= TOLERANCE:
        msg = f"ONNX differs from scikit-learn by {difference:.3g} (tolerance {TOLERANCE:g})"
        raise ParityError(msg)
    return difference


def export(model: Model, rows: NDArray[np.float64], folder: Path) -> Exported:
    """Write model.onnx and its description to folder, after proving parity on rows."""
    onnx_model = convert(model)
    difference = parity(model, onnx_model, rows)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    path.write_bytes(onnx_model)
    sha256 = hashlib.sha256(onnx_model).hexdigest()
    description = {
        "model_version": model.version,
        "sha256": sha256,
        "input": {
            "name": INPUT_NAME,
            "type": "float32",
            "columns": list(model.metadata.feature_names),
        },
        "outputs": (
            {"label": "predicted class", "probabilities": list(model.metadata.classes or ())}
            if model.metadata.problem_type == "classification"
            else {"variable": "prediction"}
        ),
        "parity": {"rows": len(rows), "max_difference": difference, "tolerance": TOLERANCE},
    }
    (folder / "model.onnx.json").write_text(json.dumps(description, indent=2) + "\n")
    return Exported(path, sha256, difference)
