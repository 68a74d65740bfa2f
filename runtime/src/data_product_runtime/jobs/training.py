"""Train a model on the configured data, evaluate it on held-out rows and store it."""

from typing import Any

import numpy as np

from data_product_runtime.core.compiled import portable_form
from data_product_runtime.core.dataset import Dataset
from data_product_runtime.core.drift import DriftReference
from data_product_runtime.core.evaluation import baseline_score, score, split
from data_product_runtime.core.model import DataFingerprint, ModelMetadata, TrainingReport
from data_product_runtime.core.portable import PortableForm, PortablePipeline
from data_product_runtime.core.predictor import Predictor, build_predictor
from data_product_runtime.core.problems import Problem
from data_product_runtime.io.registries import open_registry
from data_product_runtime.jobs.progress import steps
from data_product_runtime.project import Project
from data_product_runtime.settings import Settings


def train(project: Project, settings: Settings) -> ModelMetadata:
    """Fit the pipeline on the training split and register it as the new candidate."""
    with steps(total=4) as advance:
        advance("loading data")
        dataset, source = project.dataset(settings)
        problem = project.problem
        train_set, test_set = split(dataset, problem, settings.test_size, settings.random_seed)
        advance(f"fitting on {len(train_set)} rows")
        hyperparameters = project.hyperparameters(settings)
        pipeline = project.build_pipeline(hyperparameters, dataset.schema)
        pipeline.fit(train_set.features, train_set.target)
        advance(f"evaluating on {len(test_set)} held-out rows")
        report = _report(
            problem=problem,
            pipeline=pipeline,
            dataset=dataset,
            source=source,
            train_set=train_set,
            test_set=test_set,
            hyperparameters=hyperparameters,
        )
        advance("storing the model")
        return open_registry(settings).save(pipeline, report, project.version)


def _report(
    *,
    problem: Problem,
    pipeline: Any,
    dataset: Dataset,
    source: str,
    train_set: Dataset,
    test_set: Dataset,
    hyperparameters: dict[str, Any],
) -> TrainingReport:
    predictor, difference = checked_predictor(problem, pipeline, train_set, test_set)
    return TrainingReport(
        problem_type=problem.name,
        features=dataset.schema,
        keys=dataset.keys,
        target=dataset.target_name,
        classes=problem.classes(pipeline),
        hyperparameters=hyperparameters,
        metrics=score(pipeline, problem, test_set),
        baseline_metrics=baseline_score(problem, train_set, test_set),
        input_reference=DriftReference.from_training(train_set.features, dataset.schema),
        score_reference=DriftReference.from_training(
            problem.scores(predictor.outputs(train_set.features))[:, None]
        ),
        training_data=DataFingerprint(
            source=source, rows=len(train_set), sha256=train_set.fingerprint()
        ),
        test_data=DataFingerprint(source=source, rows=len(test_set), sha256=test_set.fingerprint()),
        portable=verified_portable_form(problem, pipeline, test_set),
        prediction=predictor.implementation,
        compiled_trees=predictor.trees,
        prediction_difference=difference,
    )


# Tree outputs through treelite may differ from the estimator's in the last bits (another
# order of summation, float32 inside XGBoost); beyond this, or on any label, they are not used.
TREE_TOLERANCE = 1e-6


def checked_predictor(
    problem: Problem, pipeline: Any, train_set: Dataset, test_set: Dataset
) -> tuple[Predictor, float]:
    """The fastest predictor whose outputs match the pipeline's on the training and held-out
    rows (within ``TREE_TOLERANCE``, every label identical), and the largest difference."""
    classifier = problem.name == "classification"
    rows = np.vstack([test_set.features, train_set.features])
    expected = problem.outputs(pipeline, rows)
    predictor = build_predictor(pipeline, classifier=classifier, trees=True)
    fast = predictor.outputs(rows)
    difference = float(np.max(np.abs(fast - expected), initial=0.0))
    if predictor.trees:
        same_labels = not classifier or np.array_equal(
            np.argmax(fast, axis=1), np.argmax(expected, axis=1)
        )
        scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        if not same_labels or difference > TREE_TOLERANCE * scale:
            predictor = build_predictor(pipeline, classifier=classifier)
            difference = float(np.max(np.abs(predictor.outputs(rows) - expected), initial=0.0))
    return predictor, difference


def verified_portable_form(
    problem: Problem, pipeline: Any, test_set: Dataset
) -> PortableForm | None:
    """The pipeline as numbers, kept only when it gives exactly the pipeline's outputs."""
    form = portable_form(pipeline)
    if form is None:
        return None
    portable = PortablePipeline(form)
    method = portable.predict_proba if problem.name == "classification" else portable.predict
    same = np.array_equal(method(test_set.features), problem.outputs(pipeline, test_set.features))
    return form if same else None
