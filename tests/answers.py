"""The questions of copier.yml as data, and the answer sets the tests render.

The matrix is derived from copier.yml (every choice and every boolean), never listed here
a second time: a new choice is tested as soon as it is added to the questions.
"""

from __future__ import annotations

import itertools
from typing import Any

import jinja2

from template_questions import (
    PROJECT_TEMPLATE,
    TEMPLATE_ROOT,
    asked_questions,
    choices,
    questions,
)

__all__ = ["PROJECT_TEMPLATE", "TEMPLATE_ROOT", "asked_questions", "choices", "questions"]

Answers = dict[str, Any]


def defaults() -> Answers:
    """The default answer of every multiple-choice and boolean question."""
    return {name: spec["default"] for name, spec in asked_questions().items() if choices(spec)}


def is_asked(name: str, answers: Answers) -> bool:
    """Whether Copier asks (and records) the question, given the other answers (`when:`)."""
    when = questions()[name].get("when", True)
    if isinstance(when, str):
        rendered = jinja2.Environment().from_string(when).render(answers)  # noqa: S701 - not HTML
        return rendered.strip().lower() in {"true", "yes", "1"}
    return bool(when)


def is_valid(answers: Answers) -> bool:
    """The one place where answer combinations that make no sense are pruned: an answer to
    a question that is not asked (`when:`) other than its default."""
    return all(
        is_asked(name, answers) or value == questions()[name]["default"]
        for name, value in answers.items()
    )


def pairwise_answer_sets() -> list[Answers]:
    """Answer sets in which every pair of choices of two questions appears at least once.

    Greedy all-pairs: far fewer renders than the full product, yet every interaction
    between two questions is rendered. Deterministic, defaults first.
    """
    factors = {name: choices(spec) for name, spec in asked_questions().items() if choices(spec)}
    names = list(factors)
    uncovered = {
        (a, va, b, vb)
        for a, b in itertools.combinations(names, 2)
        for va in factors[a]
        for vb in factors[b]
    }
    candidates = [
        dict(zip(names, values, strict=True)) for values in itertools.product(*factors.values())
    ]
    candidates = [answers for answers in candidates if is_valid(answers)]
    # Pairs no valid answer set has (an option of a question that is not asked) are not owed.
    possible: set[tuple[str, Any, str, Any]] = set()
    for answers in candidates:
        possible |= {(a, answers[a], b, answers[b]) for a, b in itertools.combinations(names, 2)}
    uncovered &= possible
    chosen = [defaults()]

    def covered_by(answers: Answers) -> set[tuple[str, Any, str, Any]]:
        return {
            (a, answers[a], b, answers[b]) for a, b in itertools.combinations(names, 2)
        } & uncovered

    uncovered -= covered_by(chosen[0])
    while uncovered:
        best = max(candidates, key=lambda answers: len(covered_by(answers)))
        chosen.append(best)
        uncovered -= covered_by(best)
    return chosen


def answer_set_id(answers: Answers) -> str:
    """A short readable test id, naming only the answers that differ from the defaults."""
    changed = [
        f"{name}={value}" for name, value in answers.items() if defaults().get(name) != value
    ]
    return ",".join(changed) or "defaults"


# Answers every engine must refuse, with a part of the message that says why.
BAD_ANSWERS = [
    ("package_name", "class", "'class' is a Python keyword"),
    ("package_name", "my-pkg", "'my-pkg' is not a valid package name"),
    ("package_name", "1abc", "'1abc' is not a valid package name"),
    ("package_name", "json", "would shadow the module 'json'"),
    ("package_name", "sklearn", "would shadow the module 'sklearn'"),
    ("package_name", "Data", "'Data' is not a valid package name"),
    ("project_slug", "My Project", "'My Project' is not a valid slug"),
    ("project_slug", "-x", "'-x' is not a valid slug"),
    ("project_name", "   ", "The project name is empty"),
    ("project_name", "9 lives", "must start with a letter"),
    ("project_name", 'Quote "me"', "must not contain quotes"),
    ("description", "", "The description is empty"),
    ("author_name", "", "The author name is empty"),
    ("author_email", "not-an-email", "'not-an-email' is not a valid e-mail address"),
    ("author_email", "a@b", "'a@b' is not a valid e-mail address"),
    ("copyright_year", "26", "'26' is not a year"),
    ("license", "GPL-3.0", "Invalid choice"),
    ("python_version", "3.9", "Invalid choice"),
    ("problem_type", "clustering", "Invalid choice"),
    ("ci", "jenkins", "Invalid choice"),
]
