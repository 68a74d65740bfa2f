"""One tree, three engines: Copier, cookiecutter and cruft render the same project from it.

The questions live in copier.yml only; template/cookiecutter.json is exported from it, and
cookiecutter and cruft render with `--directory template`. The generated trees must be
identical apart from each engine's answers file (.copier-answers.yml, .cruft.json), with and
without the post-generation hook, for every answer set of the matrix.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import shared_ci
import template_questions
from answers import (
    BAD_ANSWERS,
    TEMPLATE_ROOT,
    Answers,
    answer_set_id,
    defaults,
    pairwise_answer_sets,
)
from conftest import commit_all, copy_working_tree, git, render, replace_once, run

ANSWERS_FILES = {".copier-answers.yml", ".cruft.json"}
# Made by the hook's `uv run` (ruff's cache, the project's environment), never committed.
UNTRACKED = {".git", ".venv", ".ruff_cache"}


@pytest.fixture(autouse=True)
def _cookiecutter_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep cookiecutter's replay files and clones out of the real home directory."""
    config = tmp_path / "cookiecutterrc.yaml"
    config.write_text(
        f"cookiecutters_dir: {tmp_path / 'cookiecutters'}\nreplay_dir: {tmp_path / 'replay'}\n"
    )
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(config))


def command_line_value(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def cookiecutter(
    output: Path, answers: Answers, *, hooks: bool, template: Path = TEMPLATE_ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", f"--output-dir={output}",
         f"--accept-hooks={'yes' if hooks else 'no'}",
         f"--directory={template_questions.COOKIECUTTER_DIRECTORY}", str(template),
         *(f"{name}={command_line_value(value)}" for name, value in answers.items())],
        capture_output=True, text=True, check=False, env=os.environ,
    )  # fmt: skip


def render_with_cookiecutter(output: Path, answers: Answers, *, hooks: bool) -> Path:
    result = cookiecutter(output, answers, hooks=hooks)
    assert result.returncode == 0, result.stderr[-5000:]
    (project,) = output.iterdir()
    return project


def tree(root: Path) -> set[str]:
    """Every file and folder of a generated project, answers files and caches left out."""
    return {
        path.relative_to(root).as_posix() + ("/" if path.is_dir() else "")
        for path in root.rglob("*")
        if not UNTRACKED & set(path.relative_to(root).parts) and path.name not in ANSWERS_FILES
    }


def assert_identical(copier_project: Path, cookiecutter_project: Path) -> None:
    paths = tree(copier_project)
    assert paths == tree(cookiecutter_project)
    files = sorted(path for path in paths if not path.endswith("/"))
    _, different, errors = filecmp.cmpfiles(
        copier_project, cookiecutter_project, files, shallow=False
    )
    assert not different, f"the engines wrote different contents: {different}"
    assert not errors


def test_cookiecutter_json_is_exported_from_copier_yml() -> None:
    committed = template_questions.COOKIECUTTER_JSON.read_text()
    assert committed == template_questions.cookiecutter_json(), (
        "template/cookiecutter.json is stale: run `python hooks/template_questions.py`"
    )
    context = json.loads(committed)
    for name, value in defaults().items():
        first = context[name][0] if isinstance(context[name], list) else context[name]
        assert first == value, f"cookiecutter's default for {name} differs from copier.yml's"


@pytest.mark.parametrize(
    "answers", pairwise_answer_sets(), ids=[answer_set_id(a) for a in pairwise_answer_sets()]
)
def test_both_engines_render_the_same_tree(tmp_path: Path, answers: Answers) -> None:
    copier_project = render(tmp_path / "copier", answers)
    cookiecutter_project = render_with_cookiecutter(tmp_path / "cookiecutter", answers, hooks=False)
    assert_identical(copier_project, cookiecutter_project)


def test_the_hooks_run_under_both_engines_with_the_same_result(tmp_path: Path) -> None:
    answers = {"project_name": "Engine Check", "ci": "gitlab", "docker": False}
    copier_project = render(tmp_path / "copier", answers, tasks=True)
    cookiecutter_project = render_with_cookiecutter(tmp_path / "cookiecutter", answers, hooks=True)
    assert cookiecutter_project.name == "engine-check"
    assert_identical(copier_project, cookiecutter_project)
    for project in (copier_project, cookiecutter_project):
        assert (project / "uv.lock").is_file()
        assert not (project / ".github").exists(), "a folder of an option not chosen was left"
        assert git(project, "rev-list", "--count", "HEAD").strip() == "1"
        assert git(project, "status", "--porcelain") == ""


# Cookiecutter checks choices itself, and names the project folder before any hook runs:
# a project name that gives an empty folder name is its own refusal (below).
REFUSED_BY_THE_VALIDATORS = [
    (question, value, message)
    for question, value, message in BAD_ANSWERS
    if message != "Invalid choice" and (question, value) != ("project_name", "   ")
]


@pytest.mark.parametrize(
    ("question", "value", "message"),
    REFUSED_BY_THE_VALIDATORS,
    ids=[f"{q}={v!r}" for q, v, _ in REFUSED_BY_THE_VALIDATORS],
)
def test_cookiecutter_refuses_what_copier_refuses(
    tmp_path: Path, question: str, value: str, message: str
) -> None:
    output = tmp_path / "output"
    output.mkdir()
    result = cookiecutter(output, {question: value}, hooks=True)
    assert result.returncode != 0
    assert f"{question}: " in result.stderr
    assert message in result.stderr
    assert not any(output.iterdir()), "a refused answer left files"


def test_cookiecutter_refuses_a_choice_it_does_not_offer(tmp_path: Path) -> None:
    result = cookiecutter(tmp_path, {"python_version": "3.9"}, hooks=True)
    assert result.returncode != 0
    assert "3.9 provided for choice variable python_version" in result.stderr


def test_cookiecutter_refuses_a_blank_project_name_and_touches_nothing(tmp_path: Path) -> None:
    output = tmp_path / "output"
    output.mkdir()
    (output / "keep.txt").write_text("the user's file\n")
    result = cookiecutter(output, {"project_name": "   "}, hooks=True)
    assert result.returncode != 0
    assert [path.name for path in output.iterdir()] == ["keep.txt"]


# --- cruft: created from a release, updated to the next one ----------------------------------


def cruft(*args: str, cwd: Path) -> str:
    return run([sys.executable, "-m", "cruft", *args], cwd).stdout


def test_cruft_updates_a_project_and_keeps_the_users_edits(tmp_path: Path) -> None:
    template = copy_working_tree(tmp_path / "template")
    git(template, "tag", "v1.0.0")
    cruft("create", "--no-input", f"--directory={template_questions.COOKIECUTTER_DIRECTORY}",
          "--checkout=v1.0.0", str(template), cwd=tmp_path)  # fmt: skip
    project = tmp_path / "data-product"
    # cruft update renders both releases from the folder recorded here.
    assert json.loads((project / ".cruft.json").read_text())["directory"] == "template"
    # The user's edits, committed: model code, and a README paragraph.
    pipeline = next(project.glob("src/*/pipeline.py"))
    pipeline.write_text(pipeline.read_text() + "\n# Tuned by the team.\n")
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\n## Our notes\n\nKept by every update.\n")
    commit_all(project, "user's changes, and cruft's record")

    # The next release: a new CI job and a changed dependency pin.
    generated = template / template_questions.PROJECT_TEMPLATE
    workflow = next(generated.glob(".github/workflows/*ci.yml*"))
    workflow.write_text(workflow.read_text() + "\n  lock:\n    runs-on: ubuntu-latest\n"
                        "    steps:\n      - run: uv lock --check\n")  # fmt: skip
    replace_once(generated / "pyproject.toml", r'"numpy>=[^"]*"', '"numpy>=2.1,<3"')
    commit_all(template, "A CI job, numpy raised")
    git(template, "tag", "v1.1.0")

    cruft("update", "--skip-apply-ask", "--checkout=v1.1.0", cwd=project)
    assert "uv lock --check" in (project / ".github/workflows/ci.yml").read_text()
    assert '"numpy>=2.1,<3"' in (project / "pyproject.toml").read_text()
    assert "# Tuned by the team." in pipeline.read_text()
    assert "Kept by every update." in readme.read_text()
    assert not list(project.rglob("*.rej"))
    assert "<<<<<<<" not in (project / "pyproject.toml").read_text()
    commit_all(project, "template v1.1.0")
    cruft("check", cwd=project)


# --- the shared CI this repository publishes ----------------------------------------------


@pytest.mark.parametrize("path", sorted(shared_ci.PUBLISHED), ids=str)
def test_published_shared_ci_is_exported_from_the_inline_ci(path: Path) -> None:
    assert (TEMPLATE_ROOT / path).read_text() == shared_ci.PUBLISHED[path](), (
        f"{path} is stale: run `python hooks/shared_ci.py`"
    )


def test_shared_ci_is_called_at_the_ci_tag_of_this_release(tmp_path: Path) -> None:
    release = template_questions.questions()["template_release"]["default"]
    changelog = (TEMPLATE_ROOT / "CHANGELOG.md").read_text()
    newest = re.search(r"^## \[(\d+\.\d+\.\d+)\]", changelog, re.MULTILINE)
    assert newest, "CHANGELOG.md names no release"
    assert newest.group(1) == release, "copier.yml's template_release is not the newest release"
    tag = f"ci-v{release.split('.')[0]}"
    github = render(tmp_path / "github", {"ci_style": "shared"})
    assert f"data-product.yml@{tag}\n" in (github / ".github/workflows/ci.yml").read_text()
    gitlab = render(tmp_path / "gitlab", {"ci_style": "shared", "ci": "gitlab"})
    assert f"ref: {tag}\n" in (gitlab / ".gitlab-ci.yml").read_text()
