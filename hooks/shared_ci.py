"""The shared CI this repository publishes, exported from the generated projects' inline CI.

Not a hook: it writes the two files a team's projects call when they answer
``ci_style: shared`` (at the template's shared-CI tag, ``ci-v<major>``):

* ``.github/workflows/data-product.yml``, a GitHub reusable workflow (``workflow_call``);
* ``shared-ci/gitlab/data-product.yml``, a GitLab CI template with ``spec: inputs`` (include it
  with ``include: project``, or publish this repository as a CI/CD component project).

Both are the inline CI of the project template rendered with inputs in place of the answers,
so the jobs are written once. Run ``python hooks/shared_ci.py`` after changing the inline CI;
a test fails while the published files are stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jinja2

from template_questions import PROJECT_TEMPLATE, TEMPLATE_ROOT, asked_questions

GITHUB_WORKFLOW = Path(".github/workflows/data-product.yml")
GITLAB_TEMPLATE = Path("shared-ci/gitlab/data-product.yml")
NOTICE = (
    "# Published shared CI, exported by hooks/shared_ci.py from the project template's inline CI:\n"
    "# edit that, then run `python hooks/shared_ci.py`.\n"
)

GITHUB_TRIGGER = """on:
  workflow_call:
    inputs:
      python-version:
        description: Python version of the jobs (the project's oldest supported one)
        type: string
        required: true
      image-name:
        description: Name of the container image the container job builds
        type: string
        required: true
      container:
        description: Build the image, run it and wait for its health check
        type: boolean
        default: true
"""

GITLAB_SPEC = """spec:
  inputs:
    python-version:
      description: Python version of the jobs (the project's oldest supported one)
    image-name:
      description: Name of the container image the container job builds
    container:
      description: Build the image, run it and wait for its health check
      type: boolean
      default: true
---
"""


def render_inline(relative: str, **answers: object) -> str:
    """A file of the project template rendered with the defaults, some answers replaced."""
    context = {name: spec.get("default") for name, spec in asked_questions().items()}
    context.update(answers, ci_style="inline")
    source = (TEMPLATE_ROOT / PROJECT_TEMPLATE / relative).read_text()
    environment = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined)  # noqa: S701 - YAML, not HTML
    return environment.from_string(source).render(cookiecutter=context)


def replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        message = f"the inline CI changed shape: {old!r} is not there exactly once"
        raise ValueError(message)
    return text.replace(old, new)


def between(text: str, start: str, end: str) -> str:
    """The part of text from start up to (not including) end."""
    begin = text.index(start)
    return text[begin : text.index(end, begin)]


def github_workflow() -> str:
    inline = render_inline(
        ".github/workflows/{% if cookiecutter.ci == 'github' %}ci.yml{% endif %}",
        ci="github", docker=True,
        python_version="${{ inputs.python-version }}", project_slug="${{ inputs.image-name }}",
    )  # fmt: skip
    workflow = replace_once(inline, "name: CI\n", "name: data-product checks\n")
    workflow = replace_once(workflow, between(workflow, "on:\n", "\npermissions:"), GITHUB_TRIGGER)
    # The caller's workflow decides what cancels what.
    workflow = replace_once(workflow, between(workflow, "concurrency:\n", "env:\n"), "")
    workflow = replace_once(
        workflow, "\n  container:\n", "\n  container:\n    if: inputs.container\n"
    )
    return NOTICE + workflow


def gitlab_template() -> str:
    inline = render_inline(
        "{% if cookiecutter.ci == 'gitlab' %}.gitlab-ci.yml{% endif %}",
        ci="gitlab", docker=True,
        python_version="$[[ inputs.python-version ]]", project_slug="$[[ inputs.image-name ]]",
    )  # fmt: skip
    # The scheduled update job stays in each project: it updates that project.
    pipeline = replace_once(inline, between(inline, "include:\n", "variables:\n"), "")
    pipeline = replace_once(
        pipeline,
        "\ncontainer:\n  stage: container\n",
        "\ncontainer:\n  stage: container\n  rules:\n"
        '    - if: \'"$[[ inputs.container ]]" == "true"\'\n',
    )
    return NOTICE + GITLAB_SPEC + pipeline


PUBLISHED = {GITHUB_WORKFLOW: github_workflow, GITLAB_TEMPLATE: gitlab_template}


if __name__ == "__main__":
    for path, export in PUBLISHED.items():
        (TEMPLATE_ROOT / path).parent.mkdir(parents=True, exist_ok=True)
        (TEMPLATE_ROOT / path).write_text(export())
        print(f"wrote {path}", file=sys.stderr)
