"""The update path: `copier update` brings a template release into a project a user has changed.

The quick tests cover the migration registry (hooks/migrations.py) on its own. The full tests
release this checkout twice in a temporary repository: v1.0.0 as it is, and v1.1.0 with a
real template change (a renamed module with a migration, a new CI job, a changed dependency
pin). A project generated from v1.0.0 and edited by its user is updated to v1.1.0.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import copier
import pytest
import yaml

import migrations
from answers import PROJECT_TEMPLATE, TEMPLATE_ROOT
from conftest import commit_all, copy_working_tree, git, render, replace_once, run

PACKAGE = "data_product"
OLD_MODULE = f"src/{PACKAGE}/core/pipeline.py"
NEW_MODULE = f"src/{PACKAGE}/core/model_pipeline.py"
WORKFLOW = ".github/workflows/ci.yml"
CONFLICT_MARKER = re.compile(r"^(<<<<<<<|>>>>>>>) ", re.MULTILINE)


# --- the registry on its own -------------------------------------------------------------


def test_release_reads_tags_and_pep440_versions() -> None:
    assert migrations.release("v1.2.0") == (1, 2)
    assert migrations.release("1.2") == migrations.release("1.2.0")
    assert migrations.release("1.0.0.post3.dev0+g1a2b3c") == (1,)
    assert migrations.release("0.0.0.post5+gabc") < migrations.release("0.1.0")
    with pytest.raises(ValueError, match="'main' is not a version"):
        migrations.release("main")


def test_steps_run_between_the_two_versions_in_their_stage() -> None:
    move = migrations.MoveFile("1.1.0", "a.py", "b.py")
    rename = migrations.RenameAnswer("1.2.0", "old", "new")
    steps = (move, rename)
    assert migrations.selected(steps, "after", "1.0.0", "1.1.0") == [move]
    assert migrations.selected(steps, "after", "1.1.0", "1.2.0") == []
    assert migrations.selected(steps, "before", "1.0.0", "1.2.0") == [rename]
    assert migrations.selected(steps, "before", "1.0.0", "1.1.0") == []
    assert migrations.selected(steps, "after", "1.0.0.post4+gabc", "1.1.0") == [move]
    assert migrations.selected(steps, "after", "1.1.0", "1.1.0") == []


def test_the_registry_is_ordered_by_version() -> None:
    versions = [migrations.release(step.version) for step in migrations.STEPS]
    assert versions == sorted(versions)


def test_copier_runs_the_migrations_in_both_stages() -> None:
    class Loader(yaml.SafeLoader):
        """copier.yml's `!include`s are not needed here."""

    Loader.add_constructor("!include", lambda loader, node: None)
    config = yaml.load((TEMPLATE_ROOT / "copier.yml").read_text(), Loader=Loader)  # noqa: S506
    (entry,) = config["_migrations"]
    assert entry["when"] == "{{ true }}"
    assert "{{ _copier_conf.src_path }}/hooks/migrations.py" in entry["command"]
    assert "--stage={{ _stage }}" in entry["command"]


def _project_with_history(root: Path, files: dict[str, str], answers: str) -> Path:
    root.mkdir()
    git(root, "init", "--quiet")
    (root / ".copier-answers.yml").write_text(answers)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    commit_all(root, "user's project")
    return root


def _context(project: Path, previous: Path | None) -> migrations.Context:
    return migrations.Context(project, ".copier-answers.yml", lambda: previous)


def test_rename_answer_keeps_the_value_and_runs_once(tmp_path: Path) -> None:
    project = _project_with_history(tmp_path / "p", {}, "_commit: v1.0.0\nmodel_kind: forest\n")
    step = migrations.RenameAnswer("1.1.0", "model_kind", "estimator")
    context = _context(project, None)
    assert step.apply(context) == "renamed the answer model_kind to estimator"
    assert step.apply(context) is None
    assert yaml.safe_load((project / ".copier-answers.yml").read_text()) == {
        "_commit": "v1.0.0",
        "estimator": "forest",
    }


BASE = "one\ntwo\nthree\nfour\nfive\nsix\nseven\n"


def _moved(tmp_path: Path, users: str, templates: str) -> tuple[Path, Callable[[], str | None]]:
    """A project whose user edited `old/{package_name}.py`, after Copier wrote the new path."""
    project = _project_with_history(
        tmp_path / "p", {"old/pkg.py": users}, "_commit: v1.0.0\npackage_name: pkg\n"
    )
    previous = tmp_path / "previous"
    (previous / "old").mkdir(parents=True)
    (previous / "old/pkg.py").write_text(BASE)
    (project / "old/pkg.py").unlink()  # Copier removes what the new template no longer has.
    (project / "new").mkdir()
    (project / "new/pkg.py").write_text(templates)
    step = migrations.MoveFile("1.1.0", "old/{package_name}.py", "new/{package_name}.py")
    return project, lambda: step.apply(_context(project, previous))


def test_move_file_merges_the_users_edits_into_the_templates_new_file(tmp_path: Path) -> None:
    users = BASE.replace("six", "six, edited by the user")
    project, apply = _moved(tmp_path, users, "ONE\n" + BASE.removeprefix("one\n"))
    assert apply() == "moved old/pkg.py to new/pkg.py, with your edits"
    expected = "ONE\ntwo\nthree\nfour\nfive\nsix, edited by the user\nseven\n"
    assert (project / "new/pkg.py").read_text() == expected
    assert not (project / "old/pkg.py").exists()
    assert apply() == "moved old/pkg.py to new/pkg.py, with your edits"
    assert (project / "new/pkg.py").read_text() == expected, "a second run changed the file"


def test_move_file_marks_a_true_conflict_and_keeps_both_sides(tmp_path: Path) -> None:
    project, apply = _moved(
        tmp_path, BASE.replace("four", "user's four"), BASE.replace("four", "template's four")
    )
    outcome = apply()
    assert outcome is not None
    assert "1 conflict(s)" in outcome
    merged = (project / "new/pkg.py").read_text()
    assert (
        "<<<<<<< before updating\nuser's four\n=======\ntemplate's four\n>>>>>>> after updating"
        in merged
    )


def test_move_file_does_nothing_where_there_is_nothing_to_move(tmp_path: Path) -> None:
    project = _project_with_history(tmp_path / "p", {"new/pkg.py": BASE}, "package_name: pkg\n")
    step = migrations.MoveFile("1.1.0", "old/{package_name}.py", "new/{package_name}.py")
    assert step.apply(_context(project, None)) is None
    assert (project / "new/pkg.py").read_text() == BASE


# --- two releases of this template, and a project updated from one to the other -----------


def release_1_1(template: Path) -> None:
    """A template change a 3-way merge alone cannot carry (a rename) next to ones it can."""
    package = template / PROJECT_TEMPLATE / "src/{{ cookiecutter.package_name }}"
    (package / "core/pipeline.py").rename(package / "core/model_pipeline.py")
    replace_once(package / "core/model_pipeline.py", r'\A""".*"""$',
                 '"""The model pipeline: scikit-learn preprocessing and estimator in one ``Pipeline``."""')  # fmt: skip
    for path in (template / PROJECT_TEMPLATE).rglob("*"):
        if path.is_file() and ".core.pipeline " in path.read_text():
            path.write_text(path.read_text().replace(".core.pipeline ", ".core.model_pipeline "))
    replace_once(
        template / "hooks/migrations.py",
        r"^STEPS: tuple\[MoveFile \| RenameAnswer, \.\.\.\] = \(.*\)$",
        "STEPS: tuple[MoveFile | RenameAnswer, ...] = (\n"
        '    MoveFile("1.1.0", "src/{package_name}/core/pipeline.py",'
        ' "src/{package_name}/core/model_pipeline.py"),\n)',
    )
    workflow = next((template / PROJECT_TEMPLATE).glob(".github/workflows/*ci.yml*"))
    workflow.write_text(
        workflow.read_text().rstrip("\n") + "\n\n"
        "  lock:\n"
        "    name: uv.lock matches pyproject.toml\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@v6\n"
        "      - uses: astral-sh/setup-uv@v7\n"
        "      - run: uv lock --check\n"
    )
    replace_once(
        template / PROJECT_TEMPLATE / "pyproject.toml", r'"numpy>=[^"]*"', '"numpy>=2.1,<3"'
    )
    (template / PROJECT_TEMPLATE / "notebooks").mkdir()
    (template / PROJECT_TEMPLATE / "notebooks/explore.ipynb").write_text(TEMPLATE_NOTEBOOK)
    commit_all(
        template, "Rename core/pipeline.py to core/model_pipeline.py, add a CI job, raise numpy"
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A template repository with two releases: v1.0.0 (this checkout) and v1.1.0."""
    repository = copy_working_tree(tmp_path_factory.mktemp("template"))
    git(repository, "tag", "v1.0.0")
    release_1_1(repository)
    git(repository, "tag", "v1.1.0")
    return repository


def generate(template: Path, destination: Path) -> Path:
    copier.run_copy(
        str(template), destination, defaults=True, unsafe=True, quiet=True, vcs_ref="v1.0.0"
    )
    assert git(destination, "status", "--porcelain") == ""
    return destination


def update(project: Path) -> None:
    copier.run_update(
        project, overwrite=True, unsafe=True, defaults=True, quiet=True, vcs_ref="v1.1.0",
        conflict="inline",
    )  # fmt: skip


def check_update(project: Path) -> dict[str, object]:
    """What the scheduled template-update workflows ask before they update."""
    command = [sys.executable, "-m", "copier", "check-update", "--output-format", "json"]
    result: dict[str, object] = json.loads(run(command, project).stdout)
    return result


def leftovers(project: Path) -> list[str]:
    """Conflict markers and rejected hunks anywhere in the project."""
    found = [str(path) for path in project.rglob("*.rej")]
    listed = git(project, "ls-files", "--cached", "--others", "--exclude-standard").split()
    for name in sorted(set(listed)):  # An unmerged file is listed once per stage.
        path = project / name
        if path.is_file() and CONFLICT_MARKER.search(path.read_text(errors="replace")):
            found.append(name)
    return found


README_NOTE = "Our team's note: this model feeds the weekly screening report.\n"
TEMPLATE_NOTEBOOK = (
    '{"cells": [], "metadata": {"from": "template"}, "nbformat": 4, "nbformat_minor": 5}\n'
)
USER_NOTEBOOK = '{"cells": [], "metadata": {"from": "user"}, "nbformat": 4, "nbformat_minor": 5}\n'


def edit_like_a_user(project: Path) -> None:
    replace_once(project / OLD_MODULE, r'"C": 1\.0', '"C": 0.5')
    run(["uv", "add", "--no-sync", "tabulate>=0.9"], project)
    replace_once(project / "README.md", r"\A(# .*\n\n.*\n)", rf"\1\n{README_NOTE}")
    (project / "notebooks").mkdir()
    (project / "notebooks/explore.ipynb").write_text(USER_NOTEBOOK)
    commit_all(project, "Tune the model, add a dependency, write a note")


@pytest.mark.full
def test_update_brings_the_release_and_keeps_the_users_edits(
    template: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = generate(template, tmp_path / "project")
    edit_like_a_user(project)
    assert check_update(project) == {
        "update_available": True,
        "current_version": "1.0.0",
        "latest_version": "1.1.0",
    }
    capfd.readouterr()

    update(project)
    output = capfd.readouterr().err
    moved = f"migration 1.1.0: moved {OLD_MODULE} to {NEW_MODULE}, with your edits"
    assert output.count(moved) == 1, output
    assert leftovers(project) == []

    # The template's changes arrived ...
    assert not (project / OLD_MODULE).exists()
    estimator = (project / NEW_MODULE).read_text()
    assert estimator.startswith('"""The model pipeline: scikit-learn preprocessing')
    assert "core.model_pipeline import" in (project / f"src/{PACKAGE}/jobs/training.py").read_text()
    workflow = yaml.safe_load((project / WORKFLOW).read_text())
    assert workflow["jobs"]["lock"]["steps"][-1] == {"run": "uv lock --check"}
    pyproject = (project / "pyproject.toml").read_text()
    assert '"numpy>=2.1,<3"' in pyproject
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == "v1.1.0"
    # ... and every edit of the user survived, in the file's new place.
    assert '"C": 0.5' in estimator
    assert '"tabulate>=0.9"' in pyproject
    assert README_NOTE in (project / "README.md").read_text()
    # A user-owned path (_skip_if_exists) keeps the user's file when the template adds its own.
    assert (project / "notebooks/explore.ipynb").read_text() == USER_NOTEBOOK
    run(["uv", "lock", "--check"], project)
    assert 'name = "tabulate"' in (project / "uv.lock").read_text()

    # Apart from the user's edits, the project is what a fresh v1.1.0 render gives.
    fresh = tmp_path / "fresh"
    copier.run_copy(str(template), fresh, defaults=True, unsafe=True, quiet=True,
                    vcs_ref="v1.1.0", skip_tasks=True)  # fmt: skip
    differing = {
        str(path.relative_to(fresh))
        for path in fresh.rglob("*")
        if path.is_file() and path.read_bytes() != (project / path.relative_to(fresh)).read_bytes()
    }
    assert differing == {"README.md", "pyproject.toml", NEW_MODULE, "notebooks/explore.ipynb"}

    # Updating again to the same release changes nothing and runs no migration.
    commit_all(project, "Update to v1.1.0")
    assert check_update(project)["update_available"] is False
    update(project)
    assert "migration 1.1.0" not in capfd.readouterr().err
    assert git(project, "status", "--porcelain") == ""

    run(["uv", "run", "--locked", "nox"], project)


@pytest.mark.full
def test_a_true_conflict_is_marked_inline_and_nothing_is_lost(
    template: Path, tmp_path: Path
) -> None:
    project = generate(template, tmp_path / "project")
    edit_like_a_user(project)
    replace_once(project / "pyproject.toml", r'"numpy>=[^"]*"', '"numpy>=2.0,<2.3"')
    commit_all(project, "Hold numpy below 2.3")
    committed_lock = (project / "uv.lock").read_text()

    update(project)
    pyproject = (project / "pyproject.toml").read_text()
    assert (
        '<<<<<<< before updating\n    "numpy>=2.0,<2.3",\n=======\n    "numpy>=2.1,<3",\n'
        ">>>>>>> after updating\n"
    ) in pyproject
    # The workflows list conflicted files this way to open a draft pull request.
    assert git(project, "diff", "--name-only", "--diff-filter=U").split() == ["pyproject.toml"]
    assert leftovers(project) == ["pyproject.toml"]
    # The user's other edits arrived where they belong; their lock is kept for `uv lock`.
    assert '"tabulate>=0.9"' in pyproject
    assert '"C": 0.5' in (project / NEW_MODULE).read_text()
    assert README_NOTE in (project / "README.md").read_text()
    assert (project / "uv.lock").read_text() == committed_lock


# --- the scheduled update workflows of the generated project --------------------------------


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: .ci/install-tools.sh installs it")
    return path


@pytest.mark.full
def test_github_template_update_workflow_passes_actionlint_and_its_schema(tmp_path: Path) -> None:
    project = render(tmp_path / "project", {"ci": "github"})
    workflow = ".github/workflows/template-update.yml"
    run([_tool("actionlint"), workflow], project)
    run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", workflow],
        project)  # fmt: skip
    parsed = yaml.safe_load((project / workflow).read_text())
    assert set(parsed[True]) == {"schedule", "workflow_dispatch"}  # YAML 1.1 reads `on` as True
    assert parsed["permissions"] == {"contents": "write", "pull-requests": "write"}
    script = parsed["jobs"]["update"]["steps"][-1]["run"]
    assert "update --trust --defaults --conflict inline" in script
    assert "--draft" in script


@pytest.mark.full
def test_gitlab_template_update_job_passes_its_schema(tmp_path: Path) -> None:
    project = render(tmp_path / "project", {"ci": "gitlab"})
    job_file = ".gitlab/template-update.yml"
    run([_tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci",
         "--data-transform", "gitlab-ci", job_file], project)  # fmt: skip
    job = yaml.safe_load((project / job_file).read_text())["template-update"]
    assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    assert "copier update --trust --defaults --conflict inline" in "\n".join(job["script"])


@pytest.mark.parametrize("ci", ["github", "gitlab", "none"])
def test_the_update_workflow_follows_the_ci_answer(tmp_path: Path, ci: str) -> None:
    project = render(tmp_path / "project", {"ci": ci})
    assert (project / ".github/workflows/template-update.yml").is_file() == (ci == "github")
    assert (project / ".gitlab/template-update.yml").is_file() == (ci == "gitlab")
