"""The questions of copier.yml as data, and the answer sets the tests render.

The matrix is derived from copier.yml (every choice and every boolean), never listed here
a second time: a new choice is tested as soon as it is added to the questions.
"""

from __future__ import annotations

import itertools
from functools import cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent

Answers = dict[str, Any]


class _CopierYamlLoader(yaml.SafeLoader):
    """copier.yml's dialect: ``!include`` of a YAML file inside the template."""


def _include(loader: _CopierYamlLoader, node: yaml.Node) -> Any:
    path = TEMPLATE_ROOT / str(loader.construct_scalar(node))  # type: ignore[arg-type]
    return yaml.load(path.read_text(), Loader=_CopierYamlLoader)  # noqa: S506


_CopierYamlLoader.add_constructor("!include", _include)


@cache
def questions() -> dict[str, dict[str, Any]]:
    """Every question of copier.yml (settings starting with '_' left out), in order."""
    config = yaml.load((TEMPLATE_ROOT / "copier.yml").read_text(), Loader=_CopierYamlLoader)  # noqa: S506
    return {name: spec for name, spec in config.items() if not name.startswith("_")}


def asked_questions() -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in questions().items() if spec.get("when") is not False}


def choices(spec: dict[str, Any]) -> list[Any]:
    """The values a multiple-choice or boolean question accepts."""
    if spec.get("type") == "bool":
        return [True, False]
    options = spec.get("choices", [])
    return list(options.values()) if isinstance(options, dict) else list(options)


def defaults() -> Answers:
    """The default answer of every multiple-choice and boolean question."""
    return {name: spec["default"] for name, spec in asked_questions().items() if choices(spec)}


def is_valid(answers: Answers) -> bool:
    """The one place where answer combinations that make no sense are pruned (none yet)."""
    return bool(answers)


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
