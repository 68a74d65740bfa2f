"""The questionnaire itself: help everywhere, reserved names complete, matrix complete."""

from __future__ import annotations

import itertools
import sys

from answers import (
    asked_questions,
    choices,
    defaults,
    is_valid,
    pairwise_answer_sets,
    questions,
)


def test_every_asked_question_has_help() -> None:
    for name, spec in asked_questions().items():
        assert spec.get("help", "").strip(), f"question '{name}' has no help text"


def test_reserved_names_cover_this_interpreters_standard_library() -> None:
    reserved = set(questions()["reserved_module_names"]["default"])
    public = {name for name in sys.stdlib_module_names if not name.startswith("_")}
    missing = sorted(public - reserved)
    assert not missing, f"add to questions/reserved_module_names.yml: {missing}"


def test_reserved_names_cover_the_generated_dependencies() -> None:
    reserved = set(questions()["reserved_module_names"]["default"])
    assert {"sklearn", "numpy", "fastapi", "pydantic", "skops", "typer", "uvicorn"} <= reserved


def test_the_matrix_renders_every_pair_of_choices() -> None:
    factors = {name: choices(spec) for name, spec in asked_questions().items() if choices(spec)}
    assert set(factors) >= {"license", "python_version", "problem_type", "ci", "docker"}
    answer_sets = pairwise_answer_sets()
    product_size = 1
    for values in factors.values():
        product_size *= len(values)
    assert len(answer_sets) < product_size / 4, "pairwise should be far smaller than the product"
    for (a, values_a), (b, values_b) in itertools.combinations(factors.items(), 2):
        for va, vb in itertools.product(values_a, values_b):
            if not is_valid({**defaults(), a: va, b: vb}):
                continue  # an option of a question that these answers do not ask
            assert any(s[a] == va and s[b] == vb for s in answer_sets), (a, va, b, vb)
