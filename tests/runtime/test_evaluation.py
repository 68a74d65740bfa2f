"""The evaluation report and the quality gate against production."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from data_product_runtime import Project
from data_product_runtime.cli import build_cli
from data_product_runtime.core.evaluation import split
from data_product_runtime.core.model import TrainingReport
from data_product_runtime.io.local_registry import LocalModelRegistry

runner = CliRunner()

PLOTS = {
    "classification": [
        "calibration.png",
        "confusion-matrix.png",
        "precision-recall.png",
        "roc.png",
    ],
    "regression": ["actual-vs-predicted.png", "residual-vs-predicted.png"],
}


@pytest.fixture
def app(project: Project) -> typer.Typer:
    return build_cli(project)


@pytest.fixture
def registry(project: Project, app: typer.Typer, tmp_path: Path) -> LocalModelRegistry:
    """A production model and, as candidate, a deliberately worse one (fit on shuffled labels)."""
    root = tmp_path / "models"
    assert runner.invoke(app, ["train", "--model-dir", str(root)]).exit_code == 0
    registry = LocalModelRegistry(root)
    registry.promote("candidate", "production")
    good = registry.read_metadata(registry.resolve("production"))
    settings = project.settings()
    dataset, _ = project.dataset(settings)
    train_set, _ = split(dataset, project.problem, settings.test_size, settings.random_seed)
    shuffled = np.random.default_rng(0).permutation(train_set.target)
    hyperparameters = project.hyperparameters(project.settings(random_seed=0))
    worse = project.build_pipeline(hyperparameters, train_set.schema).fit(
        train_set.features, shuffled
    )
    # The good model's report, less its portable form (numbers of the good pipeline).
    report = TrainingReport.model_validate(
        good.model_dump(include=set(TrainingReport.model_fields))
    )
    registry.save(worse, report.model_copy(update={"portable": None}), project.version)
    return registry


def test_report_has_metrics_plots_and_a_page(
    registry: LocalModelRegistry,
    app: typer.Typer,
    project: Project,
    problem_type: str,
    tmp_path: Path,
) -> None:
    output = tmp_path / "report"
    result = runner.invoke(
        app, ["evaluate", "production", "--output", str(output), "--model-dir", str(registry.root)],
        terminal_width=200,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    version = registry.resolve("production")
    plots = sorted(path.name for path in (output / version).glob("*.png"))
    assert plots == PLOTS[problem_type]
    assert all((output / version / name).read_bytes().startswith(b"\x89PNG") for name in plots)
    page = (output / "index.html").read_text()
    assert version in page
    assert all(f'src="{version}/{name}"' in page for name in plots)
    assert f"{project.problem.primary_metric} (primary)" in result.output


def test_gate_fails_on_a_worse_candidate(
    registry: LocalModelRegistry, app: typer.Typer, tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--against",
            "production",
            "--output",
            str(tmp_path / "r"),
            "--model-dir",
            str(registry.root),
        ],
        terminal_width=200,
    )
    assert result.exit_code == 1, result.output
    assert "quality gate FAILS" in result.output
    page = (tmp_path / "r" / "index.html").read_text()
    assert registry.resolve("candidate") in page
    assert registry.resolve("production") in page


def test_gate_passes_within_tolerance(
    registry: LocalModelRegistry, app: typer.Typer, tmp_path: Path
) -> None:
    production = registry.resolve("production")
    result = runner.invoke(
        app,
        [
            "evaluate",
            production,
            "--against",
            "production",
            "--output",
            str(tmp_path / "r"),
            "--model-dir",
            str(registry.root),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "quality gate passes" in result.output


def test_gate_without_production_compares_with_the_baseline(
    app: typer.Typer, tmp_path: Path
) -> None:
    root = tmp_path / "models"
    assert runner.invoke(app, ["train", "--model-dir", str(root)]).exit_code == 0
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--against",
            "production",
            "--output",
            str(tmp_path / "r"),
            "--model-dir",
            str(root),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "no 'production' model yet" in result.output
    assert "beats the naive baseline" in result.output


def test_evaluating_a_model_on_other_features_is_refused(
    registry: LocalModelRegistry, app: typer.Typer, tmp_path: Path
) -> None:
    data = tmp_path / "other.csv"
    data.write_text("a,b,target\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(40)))
    result = runner.invoke(
        app, ["evaluate", "production", "--output", str(tmp_path / "r"), "--model-dir", str(registry.root)],
        env={"EXAMPLE_DATA_PATH": str(data)},
    )  # fmt: skip
    assert result.exit_code == 1
    assert re.search(r"the table lacks \d+ of the features: \w+, ", result.output)
