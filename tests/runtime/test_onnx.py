"""The ONNX export predicts what the scikit-learn model predicts, within the stated tolerance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from data_product_runtime import Project
from data_product_runtime.cli import build_cli
from data_product_runtime.core.dataset import Dataset
from data_product_runtime.core.evaluation import split
from data_product_runtime.core.model import Model
from data_product_runtime.io.onnx_export import TOLERANCE, ParityError, convert, parity, run


@pytest.fixture
def held_out(project: Project, bundled: Dataset) -> Dataset:
    settings = project.settings()
    return split(bundled, project.problem, settings.test_size, settings.random_seed)[1]


def test_onnx_runtime_matches_scikit_learn_on_held_out_data(
    model: Model, held_out: Dataset, problem_type: str
) -> None:
    onnx_model = convert(model)
    assert parity(model, onnx_model, held_out.features) <= TOLERANCE
    if problem_type != "classification":
        return
    expected = model.pipeline.predict(held_out.features)
    labels = model.pipeline.classes_[run(onnx_model, held_out.features).argmax(axis=1)]
    assert (labels == expected).all()


def test_an_onnx_graph_of_another_model_fails_the_parity_check(
    project: Project, model: Model, bundled: Dataset, held_out: Dataset
) -> None:
    rng = np.random.default_rng(0)
    hyperparameters = project.hyperparameters(project.settings(random_seed=0))
    other = project.build_pipeline(hyperparameters, bundled.schema).fit(
        bundled.features, rng.permutation(bundled.target)
    )
    other_graph = convert(Model(pipeline=other, metadata=model.metadata))
    with pytest.raises(ParityError, match="ONNX differs from scikit-learn by"):
        parity(model, other_graph, held_out.features)


def test_export_command_writes_the_model_and_its_description(
    project: Project, registry_dir: Path, model: Model, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        build_cli(project),
        ["export-onnx", model.version, "--output", str(tmp_path), "--model-dir", str(registry_dir)],
    )
    assert result.exit_code == 0, result.output
    description = json.loads((tmp_path / model.version / "model.onnx.json").read_text())
    assert description["model_version"] == model.version
    assert description["input"]["columns"] == list(model.metadata.feature_names)
    assert description["parity"]["max_difference"] <= TOLERANCE
    assert (tmp_path / model.version / "model.onnx").stat().st_size > 0
