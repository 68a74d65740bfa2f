"""copier.yml, the one place where the questions live, read by everything else.

Copier reads copier.yml itself. This module serves the same questions to the rest:

* ``template/cookiecutter.json`` is exported from it (``python hooks/template_questions.py``;
  a test fails when the committed file is stale), so cookiecutter and cruft ask the same
  questions with the same defaults;
* ``hooks/pre_gen_project.py`` runs copier.yml's validators on cookiecutter's answers;
* :class:`CopierFilters` gives cookiecutter's Jinja the filters that copier.yml uses;
* the template's tests and docs read the questions through :func:`questions`.

It needs only PyYAML and Jinja, which both engines install.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml
from jinja2.ext import Extension

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
# cookiecutter's and cruft's --directory, where they find cookiecutter.json, hooks/ and the tree.
COOKIECUTTER_DIRECTORY = "template"
COOKIECUTTER_JSON = TEMPLATE_ROOT / COOKIECUTTER_DIRECTORY / "cookiecutter.json"
# The generated project's tree, named the way cookiecutter finds it (Copier's _subdirectory).
PROJECT_TEMPLATE = "template/{{ cookiecutter.project_slug }}"
# Where a generated project carries the runtime (a link to runtime/ in this repository).
VENDORED_RUNTIME = "packages/data-product-runtime"


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


def choices(spec: Mapping[str, Any]) -> list[Any]:
    """The values a multiple-choice or boolean question accepts."""
    if spec.get("type") == "bool":
        return [True, False]
    options = spec.get("choices", [])
    return list(options.values()) if isinstance(options, dict) else list(options)


# The filters copier.yml uses, with the semantics of Copier's jinja2-ansible-filters.
def regex_search(value: str, pattern: str) -> str | None:
    match = re.search(pattern, value)
    return match.group() if match else None


def regex_replace(value: str, pattern: str, replacement: str = "") -> str:
    return re.sub(pattern, replacement, value)


def strftime(string_format: str) -> str:
    return time.strftime(string_format)


FILTERS = {"regex_search": regex_search, "regex_replace": regex_replace, "strftime": strftime}


class CopierFilters(Extension):
    """Loaded by cookiecutter through ``_extensions`` in cookiecutter.json."""

    def __init__(self, environment: jinja2.Environment) -> None:
        super().__init__(environment)
        environment.filters.update(FILTERS)
        # Where pre_gen_project.py finds copier.yml (cruft gives no `_repo_dir`).
        environment.globals["template_root"] = str(TEMPLATE_ROOT)


def validation_errors(answers: Mapping[str, Any]) -> list[str]:
    """The messages of copier.yml's validators that the answers trip, in question order."""
    environment = jinja2.Environment(autoescape=False)  # noqa: S701 - renders plain text
    environment.filters.update(FILTERS)
    hidden = {
        name: spec.get("default") for name, spec in questions().items() if name not in answers
    }
    context = {**hidden, **answers}
    errors = []
    for name, spec in asked_questions().items():
        if validator := spec.get("validator"):
            message = environment.from_string(validator).render(context).strip()
            if message:
                errors.append(f"{name}: {message}")
        if (accepted := choices(spec)) and answers.get(name) not in accepted:
            shown = ", ".join(json.dumps(value) for value in accepted)
            errors.append(f"{name}: {answers.get(name)!r} is not one of {shown}")
    return errors


_NAMESPACE = jinja2.Environment()  # noqa: S701 - only its lexer is used


def namespaced(expression: str) -> str:
    """A Copier default such as ``{{ project_slug | ... }}`` as cookiecutter writes it."""
    names = set(questions())

    def qualify(tag: re.Match[str]) -> str:
        pieces, previous = [], None
        for _, kind, value in _NAMESPACE.lexer.tokeniter(tag.group(), None):
            qualified = kind == "name" and value in names and previous != "."
            pieces.append(f"cookiecutter.{value}" if qualified else value)
            if kind != "whitespace":
                previous = value if kind == "operator" else kind
        return "".join(pieces)

    return re.sub(r"""\{\{(?:'[^']*'|"[^"]*"|[^'"])*?\}\}""", qualify, expression)


def cookiecutter_context() -> dict[str, Any]:
    """cookiecutter.json: the asked questions, defaults first in each list of choices."""
    context: dict[str, Any] = {}
    prompts: dict[str, Any] = {}
    for name, spec in asked_questions().items():
        default = spec.get("default")
        if spec.get("type") == "bool":
            context[name] = bool(default)
        elif accepted := choices(spec):
            context[name] = [default, *(value for value in accepted if value != default)]
        else:
            context[name] = namespaced(str(default))
        prompt: Any = spec.get("help", name)
        if isinstance(spec.get("choices"), dict):
            labels = {value: label for label, value in spec["choices"].items()}
            prompt = {"__prompt__": prompt, **{value: labels[value] for value in context[name]}}
        prompts[name] = prompt
    context["__prompts__"] = prompts
    # Values that are not questions, private in cookiecutter as `cookiecutter._<name>`, the
    # name under which copier.yml's `cookiecutter` value gives them to Copier's templates.
    for name, spec in questions().items():
        if spec.get("when") is False and spec.get("type") == "str":
            context[f"_{name}"] = spec["default"]
    context["_extensions"] = [f"hooks.template_questions.{CopierFilters.__name__}"]
    # The vendored runtime is a link to runtime/: cookiecutter copies such a folder only when
    # it is not rendered (Copier follows the link and renders its files, which have no Jinja).
    context["_copy_without_render"] = [VENDORED_RUNTIME]
    return context


def cookiecutter_json() -> str:
    return json.dumps(cookiecutter_context(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    COOKIECUTTER_JSON.write_text(cookiecutter_json())
    print(f"wrote {COOKIECUTTER_JSON.relative_to(TEMPLATE_ROOT)}", file=sys.stderr)
