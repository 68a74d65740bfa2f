"""Train a model on the configured data, evaluate it on held-out rows and store it."""

from typing import Any

import numpy as np

from {{ cookiecutter.package_name }}.core.compiled import portable_form
from {{ cookiecutter.package_name }}.core.dataset import Dataset
from {{ cookiecutter.package_name }}.core.drift import DriftReference
from {{ cookiecutter.package_name }}.core.evaluation import baseline_score, score, split
from {{ cookiecutter.package_name }}.core.model import DataFingerprint, ModelMetadata, TrainingReport{% if cookiecutter.problem_type == 'classification' %}, as_label{% endif %}, scores
from {{ cookiecutter.package_name }}.core.pipeline import PROBLEM_TYPE, build_pipeline, default_hyperparameters
from {{ cookiecutter.package_name }}.core.portable import PortableForm, PortablePipeline
from {{ cookiecutter.package_name }}.io.datasets import load_dataset
from {{ cookiecutter.package_name }}.io.registries import open_registry
from {{ cookiecutter.package_name }}.jobs.progress import steps
from {{ cookiecutter.package_name }}.settings import Settings


def train(settings: Settings) -> ModelMetadata:
    """Fit the pipeline on the training split and register it as the new candidate."""
    with steps(total=4) as advance:
        advance("loading data")
        dataset, source = load_dataset(settings.data_path, settings.target_column)
        train_set, test_set = split(dataset, settings.test_size, settings.random_seed)
        advance(f"fitting on {len(train_set)} rows")
        hyperparameters = default_hyperparameters(settings.random_seed)
        pipeline = build_pipeline(hyperparameters).fit(train_set.features, train_set.target)
        advance(f"evaluating on {len(test_set)} held-out rows")
        report = _report(
            pipeline=pipeline,
            dataset=dataset,
            source=source,
            train_set=train_set,
            test_set=test_set,
            hyperparameters=hyperparameters,
        )
        advance("storing the model")
        return open_registry(settings).save(pipeline, report)


def _report(
    *,
    pipeline: Any,
    dataset: Dataset,
    source: str,
    train_set: Dataset,
    test_set: Dataset,
    hyperparameters: dict[str, Any],
) -> TrainingReport:
    return TrainingReport(
        problem_type=PROBLEM_TYPE,
        features=dataset.schema,
        target=dataset.target_name,
{%- if cookiecutter.problem_type == 'classification' %}
        classes=tuple(as_label(label) for label in pipeline.classes_),
{%- endif %}
        hyperparameters=hyperparameters,
        metrics=score(pipeline, test_set),
        baseline_metrics=baseline_score(train_set, test_set),
        input_reference=DriftReference.from_training(train_set.features),
        score_reference=DriftReference.from_training(
{%- if cookiecutter.problem_type == 'classification' %}
            scores(pipeline.predict_proba(train_set.features))[:, None]
{%- else %}
            scores(pipeline.predict(train_set.features))[:, None]
{%- endif %}
        ),
        training_data=DataFingerprint(
            source=source, rows=len(train_set), sha256=train_set.fingerprint()
        ),
        test_data=DataFingerprint(source=source, rows=len(test_set), sha256=test_set.fingerprint()),
        portable=verified_portable_form(pipeline, test_set),
    )


def verified_portable_form(pipeline: Any, test_set: Dataset) -> PortableForm | None:
    """The pipeline as numbers, kept only when it gives exactly the pipeline's outputs."""
    form = portable_form(pipeline)
    if form is None:
        return None
    portable = PortablePipeline(form)
{%- if cookiecutter.problem_type == 'classification' %}
    same = np.array_equal(
        portable.predict_proba(test_set.features), pipeline.predict_proba(test_set.features)
    )
{%- else %}
    same = np.array_equal(portable.predict(test_set.features), pipeline.predict(test_set.features))
{%- endif %}
    return form if same else None
