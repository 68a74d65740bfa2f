"""Evaluate a model version on held-out data, compare it with production, and gate on it."""

from dataclasses import dataclass
from pathlib import Path

from data_product_runtime.core.aliases import CANDIDATE
from data_product_runtime.core.evaluation import baseline_score, model_score, split
from data_product_runtime.core.model import ModelMetadata
from data_product_runtime.io.registries import open_registry
from data_product_runtime.io.reports import ModelEvaluation, write_html, write_plots
from data_product_runtime.jobs.progress import steps
from data_product_runtime.project import Project
from data_product_runtime.settings import Settings


@dataclass(frozen=True)
class GateVerdict:
    """Whether the evaluated model may replace the reference, and the numbers behind it."""

    passed: bool
    message: str


@dataclass(frozen=True)
class EvaluationReport:
    evaluations: list[ModelEvaluation]
    verdict: GateVerdict | None
    page: Path


def evaluate(
    project: Project,
    settings: Settings,
    reference: str | None,
    against: str | None,
    output_dir: Path,
) -> EvaluationReport:
    """Metrics and plots for a model (the candidate by default), and for ``against`` beside it.

    With ``against``, the verdict fails when the model is worse than that reference by more
    than ``settings.gate_tolerance`` on the primary metric. When the reference does not exist
    yet (no production model), the model must beat the naive baseline by that tolerance.
    """
    registry = open_registry(settings)
    reference = reference or (CANDIDATE if CANDIDATE in registry.aliases() else None)
    roles = {"evaluated": registry.resolve(reference)}
    settings = data_settings(settings, registry.metadata(roles["evaluated"]))
    if against is not None and (against in registry.aliases() or against in registry.versions()):
        roles[against] = registry.resolve(against)
    problem = project.problem
    with steps(total=len(roles)) as advance:
        evaluations = []
        for role, version in roles.items():
            advance(f"evaluating {role} ({version})")
            model = registry.load(version)
            # Encoded as this model was trained (its categories), split as at training.
            dataset, source = project.dataset(settings, model.metadata.features)
            split_sets = split(dataset, problem, settings.test_size, settings.random_seed)
            if role == "evaluated":
                train_set, evaluated_test = split_sets
            test_set = split_sets[1]
            folder = output_dir / version
            evaluations.append(
                ModelEvaluation(
                    role,
                    version,
                    model_score(model, test_set),
                    write_plots(model, test_set, folder),
                )
            )
    verdict = None
    if against is not None:
        metric = problem.primary_metric
        baseline = baseline_score(problem, train_set, evaluated_test)[metric]
        verdict = _gate(evaluations, against, metric, baseline, settings.gate_tolerance)
    data_note = f"Held-out data: {len(evaluated_test)} rows of {source} (fingerprint {evaluated_test.fingerprint()[:12]})."
    page = write_html(
        evaluations,
        verdict.message if verdict else "No comparison requested.",
        data_note,
        output_dir / "index.html",
    )
    return EvaluationReport(evaluations, verdict, page)


def data_settings(settings: Settings, metadata: ModelMetadata) -> Settings:
    """The settings with the model's own training file and target when none is configured,
    so a model trained with ``train --data`` is evaluated on that table's held-out rows."""
    source = Path(metadata.training_data.source)
    if settings.data_path is not None or not source.is_file():
        return settings
    return settings.model_copy(update={"data_path": source, "target_column": metadata.target})


def _gate(
    evaluations: list[ModelEvaluation], against: str, metric: str, baseline: float, tolerance: float
) -> GateVerdict:
    evaluated = evaluations[0]
    value = evaluated.metrics[metric]
    if len(evaluations) == 1:
        passed = value >= baseline + tolerance
        relation = "beats" if passed else "does not beat"
        return GateVerdict(
            passed,
            f"no '{against}' model yet: {evaluated.version} {relation} the naive baseline by "
            f"{tolerance} on {metric} ({value:.4f} vs {baseline:.4f})",
        )
    reference = evaluations[1]
    reference_value = reference.metrics[metric]
    passed = value >= reference_value - tolerance
    outcome = "passes" if passed else "FAILS"
    return GateVerdict(
        passed,
        f"quality gate {outcome}: {metric} of {evaluated.version} is {value:.4f}, "
        f"{against} ({reference.version}) has {reference_value:.4f}, tolerance {tolerance}",
    )
