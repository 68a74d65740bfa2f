"""Evaluate a model version on held-out data, compare it with production, and gate on it."""

from dataclasses import dataclass
from pathlib import Path

from data_product_runtime.core.aliases import CANDIDATE
from data_product_runtime.core.evaluation import baseline_outputs, model_score, split
from data_product_runtime.core.model import ModelMetadata
from data_product_runtime.core.problems import Problem
from data_product_runtime.io.registries import open_registry
from data_product_runtime.io.reports import (
    BASELINE,
    Comparison,
    ModelEvaluation,
    Verdict,
    write_report,
)
from data_product_runtime.jobs.progress import steps
from data_product_runtime.project import Project
from data_product_runtime.settings import Settings


@dataclass(frozen=True)
class EvaluationReport:
    comparison: Comparison
    verdict: Verdict
    page: Path

    @property
    def passed(self) -> bool:
        """False only when a comparison was asked for and the model lost it."""
        return self.verdict.promote is not False


def evaluate(
    project: Project,
    settings: Settings,
    reference: str | None,
    against: str | None,
    output_dir: Path,
) -> EvaluationReport:
    """Metrics and plots for a model (the candidate by default), for ``against`` and for the
    naive baseline, on the same held-out rows.

    With ``against``, the verdict fails when the model is worse than that reference by more
    than ``settings.gate_tolerance`` on the primary metric. When the reference does not exist
    yet (no production model), the model must beat the naive baseline by that tolerance.
    """
    registry = open_registry(settings)
    aliases = registry.aliases()
    reference = reference or (CANDIDATE if CANDIDATE in aliases else None)
    # Each model is named by its alias, as the user named it, else by what it is here.
    roles = [(reference if reference in aliases else "model", registry.resolve(reference))]
    if against is not None and (against in aliases or against in registry.versions()):
        roles.append((against if against in aliases else "reference", registry.resolve(against)))
    evaluated_version = roles[0][1]
    settings = data_settings(settings, registry.metadata(evaluated_version))
    problem = project.problem
    evaluations: list[ModelEvaluation] = []
    with steps(total=len(roles)) as advance:
        for role, version in roles:
            advance(f"evaluating {role} {version}")
            model = registry.load(version)
            # Encoded as this model was trained (its categories), split as at training: the
            # same rows for every model.
            dataset, source = project.dataset(settings, model.metadata.features)
            train_set, test_set = split(dataset, problem, settings.test_size, settings.random_seed)
            if not evaluations:  # the evaluated model's rows: the baseline is fitted on them
                evaluated_train, evaluated_test = train_set, test_set
            evaluations.append(
                ModelEvaluation(
                    role, version, model_score(model, test_set), model.outputs(test_set.features)
                )
            )
    outputs, classes = baseline_outputs(problem, evaluated_train, evaluated_test)
    naive = problem.baseline()
    baseline = ModelEvaluation(
        BASELINE,
        f"{type(naive).__name__}(strategy={naive.strategy!r})",
        problem.metrics(outputs, classes, evaluated_test.target),
        outputs,
    )
    comparison = Comparison(problem, [*evaluations, baseline], evaluated_test.target, classes)
    verdict = (
        _gate(comparison, against, settings.gate_tolerance)
        if against is not None
        else Verdict(
            None,
            f"No verdict: compare {roles[0][0]} {evaluated_version} with a reference, e.g. "
            "evaluate --against production.",
            "Without --against the report shows the model's metrics next to the naive baseline.",
        )
    )
    data_note = (
        f"Held-out data: {len(evaluated_test)} rows of {source} "
        f"(fingerprint {evaluated_test.fingerprint()[:12]}), the same rows for every model."
    )
    page = write_report(comparison, verdict, data_note, output_dir / "index.html")
    return EvaluationReport(comparison, verdict, page)


def data_settings(settings: Settings, metadata: ModelMetadata) -> Settings:
    """The settings with the model's own training file and target when none is configured,
    so a model trained with ``train --data`` is evaluated on that table's held-out rows."""
    source = Path(metadata.training_data.source)
    if settings.data_path is not None or not source.is_file():
        return settings
    return settings.model_copy(update={"data_path": source, "target_column": metadata.target})


def _gate(comparison: Comparison, against: str, tolerance: float) -> Verdict:
    problem: Problem = comparison.problem
    metric = problem.primary_metric
    evaluated, reference = comparison.models[0], comparison.reference
    value, reference_value = evaluated.metrics[metric], reference.metrics[metric]
    margin = comparison.gain(metric)
    name = f"{evaluated.role} {evaluated.version}"
    if reference is comparison.baseline:
        promote = margin >= tolerance
        outcome = "Promote" if promote else "Do not promote"
        if margin <= 0:
            relation = f"does not beat the naive baseline's {reference_value:.4f} ({margin:+.4f})"
        else:
            by = "by" if promote else "by only"
            relation = f"beats the naive baseline's {reference_value:.4f} {by} {margin:.4f}"
        return Verdict(
            promote,
            f"{outcome} {name}: its {metric} {value:.4f} {relation}.",
            f"There is no '{against}' model yet, so the quality gate compares with the naive "
            f"baseline: a model must beat it by at least {tolerance} on {metric}.",
        )
    promote = margin >= -tolerance
    if margin == 0:
        relation = "equals"
    else:
        relation = f"is {abs(margin):.4f} {'better' if margin > 0 else 'worse'} than"
    outcome = "Promote" if promote else "Do not promote"
    gate = "passes" if promote else "fails"
    return Verdict(
        promote,
        f"{outcome} {name}: its {metric} {value:.4f} {relation} {against}'s {reference_value:.4f}.",
        f"The quality gate {gate}: a model may be at most {tolerance} worse than {against} "
        f"({reference.version}) on {metric}.",
    )
