"""The evaluation report and the quality gate against production."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner, Result

from data_product_runtime import Project
from data_product_runtime.cli import build_cli
from data_product_runtime.core.evaluation import split
from data_product_runtime.core.model import TrainingReport
from data_product_runtime.core.problems import problem_for
from data_product_runtime.io.local_registry import LocalModelRegistry
from data_product_runtime.io.reports import BASELINE, Comparison, ModelEvaluation, plots
from data_product_runtime.jobs.evaluation import evaluate

runner = CliRunner()

# The report's plots, in the order of its grid.
PLOT_TITLES = {
    "classification": [
        "ROC curve",
        "Precision-recall curve",
        "Calibration",
        "Confusion matrix: candidate",
        "Confusion matrix: production",
    ],
    "regression": [
        "Predicted against actual",
        "Residuals against predicted",
        "Distribution of residuals",
    ],
}
NUMBER = r"-?\d+\.\d{4}"


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


def _evaluate(app: typer.Typer, root: Path, output: Path, *arguments: str) -> Result:
    return runner.invoke(
        app, ["evaluate", *arguments, "--output", str(output), "--model-dir", str(root)]
    )


def test_the_report_is_one_page_that_draws_every_model_on_the_same_axes(
    registry: LocalModelRegistry, app: typer.Typer, problem_type: str, tmp_path: Path
) -> None:
    output = tmp_path / "report"
    earlier = output / "20261101-120000-000000"  # plots of a release before 2.1, kept no more
    earlier.mkdir(parents=True)
    (earlier / "roc.png").write_bytes(b"\x89PNG")
    mine = output / "notes"  # a folder the user keeps there
    mine.mkdir()
    (mine / "roc.png").write_bytes(b"\x89PNG")
    (mine / "notes.md").write_text("mine")
    result = _evaluate(app, registry.root, output, "--against", "production")
    assert result.exit_code == 1, result.output  # the candidate is worse
    assert sorted(path.name for path in output.iterdir()) == ["index.html", "notes"]
    page = (output / "index.html").read_text()
    images = re.findall(r'<figure><h3>([^<]+)</h3><img src="([^"]+)"', page)
    titles = [title for title, _ in images]
    assert len(titles) == len(PLOT_TITLES[problem_type]), titles
    assert all(map(str.startswith, titles, PLOT_TITLES[problem_type])), titles
    # Self-contained: the page is the report, nothing else to copy along.
    assert all(source.startswith("data:image/png;base64,") for _, source in images)
    assert "http" not in page
    for version in (registry.resolve("candidate"), registry.resolve("production")):
        assert version in page


def test_each_plot_draws_both_models_and_the_baseline_with_the_tables_numbers(
    registry: LocalModelRegistry, project: Project, problem_type: str, tmp_path: Path
) -> None:
    settings = project.settings(model_dir=registry.root)
    report = evaluate(project, settings, None, "production", tmp_path / "r")
    candidate, production = report.comparison.models
    legends = {}
    for title, figure in plots(report.comparison):
        if (legend := figure.axes[0].get_legend()) is not None:  # confusion matrices have none
            legends[title.split(" (")[0]] = [text.get_text() for text in legend.get_texts()]
    if problem_type == "classification":
        assert legends["ROC curve"] == [
            f"candidate {candidate.version} (AUC {candidate.metrics['roc_auc']:.4f})",
            f"production {production.version} (AUC {production.metrics['roc_auc']:.4f})",
            f"naive baseline (AUC {report.comparison.baseline.metrics['roc_auc']:.4f})",
        ]
        assert len(legends["Precision-recall curve"]) == 3
        assert legends["Calibration"][:3] == [
            f"candidate {candidate.version}",
            f"production {production.version}",
            "naive baseline",
        ]
    else:
        assert legends["Predicted against actual"] == [
            f"candidate {candidate.version} (RMSE {candidate.metrics['rmse']:.4f})",
            f"production {production.version} (RMSE {production.metrics['rmse']:.4f})",
            "perfect",
            "naive baseline",
        ]
        assert len(legends["Distribution of residuals"]) == 2


def test_scatter_plots_of_a_large_table_draw_a_sample_and_say_so() -> None:
    rng = np.random.default_rng(0)
    actual = rng.normal(size=5000)
    candidate = ModelEvaluation("candidate", "v1", {"rmse": 1.0}, actual + rng.normal(size=5000))
    baseline = ModelEvaluation(BASELINE, "mean", {"rmse": 1.4}, np.full(5000, actual.mean()))
    comparison = Comparison(problem_for("regression"), [candidate, baseline], actual, None)
    (title, figure), *_ = plots(comparison)
    assert title == "Predicted against actual (2,000 of 5,000 rows)"
    assert np.shape(figure.axes[0].collections[0].get_offsets()) == (2000, 2)


def test_the_table_says_which_way_is_better_and_marks_the_better_value(
    registry: LocalModelRegistry, app: typer.Typer, project: Project, tmp_path: Path
) -> None:
    result = _evaluate(app, registry.root, tmp_path / "r", "--against", "production")
    page = (tmp_path / "r" / "index.html").read_text()
    primary = project.problem.primary_metric
    # candidate, production (the better one), baseline, then the candidate's loss.
    assert re.search(
        rf"<tr><td>{primary} <small>\(primary\)</small></td><td>higher</td>"
        rf'<td class="number">{NUMBER}</td><td class="number better">{NUMBER}</td>'
        rf'<td class="number">{NUMBER}</td><td class="number worse">-\d\.\d{{4}} worse</td>',
        page,
    ), page
    lower = sorted(project.problem.lower_is_better)
    assert lower  # every problem type has an error or a loss
    assert all(re.search(rf"<tr><td>{name}</td><td>lower</td>", page) for name in lower)
    assert re.search(
        rf"{primary}\* +│ higher +│ +{NUMBER} │ +{NUMBER} │ +{NUMBER} │ +-", result.output
    )


def test_the_verdict_comes_first_in_plain_words(
    registry: LocalModelRegistry, app: typer.Typer, project: Project, tmp_path: Path
) -> None:
    result = _evaluate(app, registry.root, tmp_path / "r", "--against", "production")
    metric = project.problem.primary_metric
    decision = re.search(
        rf"Do not promote candidate \S+: its {metric} ({NUMBER}) is (\d\.\d{{4}}) worse than "
        rf"production's ({NUMBER})\.",
        result.output,
    )
    assert decision, result.output
    value, margin, reference = (float(number) for number in decision.groups())
    assert margin == pytest.approx(reference - value, abs=2e-4)
    assert (
        "The quality gate fails: a model may be at most 0.01 worse than production" in result.output
    )
    page = (tmp_path / "r" / "index.html").read_text()
    assert re.search(
        r'<body><h1>Model evaluation</h1>\s*<p class="verdict hold">Do not promote', page
    )


def test_gate_passes_within_tolerance(
    registry: LocalModelRegistry, app: typer.Typer, tmp_path: Path
) -> None:
    production = registry.resolve("production")
    result = _evaluate(app, registry.root, tmp_path / "r", production, "--against", "production")
    assert result.exit_code == 0, result.output
    assert f"Promote model {production}: its " in result.output
    assert " equals production's " in result.output
    assert "The quality gate passes" in result.output


def test_gate_without_production_states_the_measured_margin_over_the_baseline(
    app: typer.Typer, project: Project, tmp_path: Path
) -> None:
    root = tmp_path / "models"
    assert runner.invoke(app, ["train", "--model-dir", str(root)]).exit_code == 0
    result = _evaluate(app, root, tmp_path / "r", "--against", "production")
    assert result.exit_code == 0, result.output
    metric = project.problem.primary_metric
    decision = re.search(
        rf"Promote candidate \S+: its {metric} ({NUMBER}) beats the naive baseline's "
        rf"({NUMBER}) by ({NUMBER})\.",
        result.output,
    )
    assert decision, result.output
    value, baseline, margin = (float(number) for number in decision.groups())
    assert margin == pytest.approx(value - baseline, abs=2e-4)
    assert margin > 0.01
    assert "There is no 'production' model yet" in result.output


@pytest.mark.usefixtures("terminal_80")
def test_evaluate_fits_80_columns_and_names_each_model_once(
    registry: LocalModelRegistry, app: typer.Typer, tmp_path: Path
) -> None:
    result = _evaluate(app, registry.root, tmp_path / "r", "--against", "production")
    lines = result.output.splitlines()
    table = [line for line in lines if line[:1] in set("┏┃┡│└")]
    assert table
    assert max(len(line) for line in table) <= 80, result.output
    assert f"candidate: {registry.resolve('candidate')}" in lines
    assert f"production: {registry.resolve('production')}" in lines
    assert "evaluated" not in result.output


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
