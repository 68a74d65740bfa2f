"""The update path: `copier update` brings a template release into a project a user has changed.

The quick tests cover the migration registry (hooks/migrations.py) on its own. The full tests
release this checkout twice in a temporary repository: v2.0.0 as it is, and v2.1.0 with a
real template change (a renamed module with a migration, a new CI job, a changed dependency
pin). A project generated from v2.0.0 and edited by its user is updated to v2.1.0. Another
repository holds the last release of the old layout (v1.0.0, commit LAST_FLAT_RELEASE: the
tree at the top, all code in src/) and this checkout as v2.0.0 (the tree under template/, the
generic code in the runtime package): an edited v1.0.0 project is updated across.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
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
OLD_MODULE = f"src/{PACKAGE}/pipeline.py"
NEW_MODULE = f"src/{PACKAGE}/model_pipeline.py"
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


def test_move_file_of_a_file_the_user_did_not_edit_leaves_the_templates_file(
    tmp_path: Path,
) -> None:
    templates = BASE.replace("four", "template's four")
    project, apply = _moved(tmp_path, BASE, templates)
    assert apply() is None, "nothing of the user's to carry over: nothing to say"
    assert (project / "new/pkg.py").read_text() == templates


# The hyper-parameters of release 1.0.0's core/pipeline.py and of 2.0.0's pipeline.py.
HYPERPARAMETERS_1 = """def default_hyperparameters(random_seed: int) -> dict[str, Any]:
    \"\"\"Estimator settings, recorded in each model's metadata.\"\"\"
    return {"C": 1.0, "max_iter": 1000, "random_state": random_seed}
"""
HYPERPARAMETERS_2 = HYPERPARAMETERS_1.replace(
    "default_hyperparameters(random_seed: int)", "hyperparameters(settings: Settings)"
).replace("random_seed}", "settings.random_seed}")


def test_merge_takes_both_sides_edits_of_different_words_of_one_line() -> None:
    tuned = HYPERPARAMETERS_1.replace('"C": 1.0', '"C": 0.5')
    merged = HYPERPARAMETERS_2.replace('"C": 1.0', '"C": 0.5')
    assert migrations.merge(tuned, HYPERPARAMETERS_1, HYPERPARAMETERS_2) == (merged, 0)
    # The user's line broken up and extended; the template's rename still lands in it.
    extended = HYPERPARAMETERS_1.replace(
        '    return {"C": 1.0, "max_iter": 1000, "random_state": random_seed}\n',
        '    return {\n        "C": 0.5,\n        "class_weight": "balanced",\n'
        '        "max_iter": 1000,\n        "random_state": random_seed,\n    }\n',
    )
    text, conflicts = migrations.merge(extended, HYPERPARAMETERS_1, HYPERPARAMETERS_2)
    assert conflicts == 0
    assert text.startswith("def hyperparameters(settings: Settings)")
    assert '        "class_weight": "balanced",\n' in text
    assert '        "random_state": settings.random_seed,\n' in text


def test_merge_keeps_a_conflict_where_both_sides_edit_the_same_words() -> None:
    users = HYPERPARAMETERS_1.replace('"C": 1.0', '"C": 0.5')
    templates = HYPERPARAMETERS_2.replace('"C": 1.0', '"C": 2.0')
    merged, conflicts = migrations.merge(users, HYPERPARAMETERS_1, templates)
    assert conflicts == 1
    assert merged == (
        "def hyperparameters(settings: Settings) -> dict[str, Any]:\n"
        '    """Estimator settings, recorded in each model\'s metadata."""\n'
        "<<<<<<< before updating\n"
        '    return {"C": 0.5, "max_iter": 1000, "random_state": random_seed}\n'
        "=======\n"
        '    return {"C": 2.0, "max_iter": 1000, "random_state": settings.random_seed}\n'
        ">>>>>>> after updating\n"
    )


def test_merge_reads_marker_like_lines_of_the_files_as_text() -> None:
    base = "Title\n=======\n\none\n"
    users, templates = base.replace("one", "user's one"), base.replace("one", "template's one")
    merged, conflicts = migrations.merge(users, base, templates)
    assert conflicts == 1
    assert merged.startswith("Title\n=======\n\n<<<<<<< before updating\nuser's one\n")


def test_release_2_moves_the_modules_users_edit_out_of_the_runtimes_packages() -> None:
    moves = [
        step
        for step in migrations.selected(migrations.STEPS, "after", "1.0.0", "2.0.0")
        if isinstance(step, migrations.MoveFile)
    ]
    assert {(step.source, step.target) for step in moves} == {
        ("src/{package_name}/core/pipeline.py", "src/{package_name}/pipeline.py"),
        ("src/{package_name}/io/datasets.py", "src/{package_name}/data.py"),
    }
    for step in moves:  # The template renders each target (one source file per problem type).
        folder, name = step.target.format(package_name="{{ cookiecutter.package_name }}").rsplit(
            "/", 1
        )
        sources = (TEMPLATE_ROOT / PROJECT_TEMPLATE / folder).glob(f"*{name}*")
        assert len(list(sources)) == 2, step.target


def _deleted_by_the_update(tmp_path: Path) -> tuple[Path, Path]:
    """A project after Copier deleted the files the new template no longer has."""
    committed = {
        "src/pkg/core/model.py": "generated\nedited by the user\n",
        "src/pkg/core/aliases.py": "generated\n",
        "src/pkg/core/features.py": "the user's own module\n",
        "tests/test_registry.py": "generated\nthe user's test\n",
        "tests/test_routing.py": "generated\n",
        "old/pkg.py": "generated\nedited, moved by a step\n",
    }
    project = _project_with_history(tmp_path / "p", committed, "_commit: v1.0.0\n")
    previous = tmp_path / "previous"
    for name in committed:
        if name != "src/pkg/core/features.py":
            (previous / name).parent.mkdir(parents=True, exist_ok=True)
            (previous / name).write_text("generated\n")
            (project / name).unlink()  # Copier deletes them, edited or not ...
    return project, previous  # ... and keeps the user's own files.


def test_a_file_the_update_deletes_comes_back_if_the_user_edited_it(tmp_path: Path) -> None:
    project, previous = _deleted_by_the_update(tmp_path)
    context = _context(project, previous)
    assert migrations.keep_edited_files(context, {"old/pkg.py"}) == [
        f"kept {name}, which you edited: the template no longer has it; move your edits to "
        "where that code now lives, then delete it"
        for name in ("src/pkg/core/model.py", "tests/test_registry.py")
    ]
    assert (project / "src/pkg/core/model.py").read_text() == "generated\nedited by the user\n"
    assert (project / "tests/test_registry.py").read_text() == "generated\nthe user's test\n"
    assert (project / "src/pkg/core/features.py").is_file()
    assert git(project, "status", "--porcelain").splitlines() == [
        " D old/pkg.py",
        " D src/pkg/core/aliases.py",
        " D tests/test_routing.py",
    ]
    assert migrations.keep_edited_files(context, {"old/pkg.py"}) == [], "not idempotent"


def test_without_the_previous_release_no_deleted_file_is_taken_for_unedited(
    tmp_path: Path,
) -> None:
    project, _ = _deleted_by_the_update(tmp_path)
    (outcome,) = migrations.keep_edited_files(_context(project, None), set())
    assert outcome.startswith("could not tell which of the 5 files this update deletes you edited")


def test_the_runtime_folder_becomes_this_releases_runtime_as_a_whole(tmp_path: Path) -> None:
    runtime = "packages/data-product-runtime"
    committed = {
        f"{runtime}/pyproject.toml": "version 1\n",
        f"{runtime}/src/pkg/app.py": "release 1\nedited by the user\n",
        f"{runtime}/src/pkg/gone.py": "removed in release 2\n",
    }
    project = _project_with_history(tmp_path / "p", committed, "_commit: v1.0.0\n")
    # After the merge: the user's edit left with a conflict, the removed file still there.
    (project / runtime / "src/pkg/app.py").write_text("<<<<<<< before updating\nx\n")
    source = tmp_path / "runtime"
    release = {
        "pyproject.toml": "version 2\n",
        "src/pkg/app.py": "release 2\n",
        "src/pkg/new.py": "new\n",
    }
    for name, text in release.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    context = _context(project, None)
    outcome = migrations.replace_runtime(context, source)
    assert outcome is not None
    assert outcome.startswith(f"replaced 3 file(s) of {runtime} that differed")
    assert "src/pkg/app.py" in outcome
    copied = sorted(
        str(path.relative_to(project / runtime)) for path in (project / runtime).rglob("*")
        if path.is_file()
    )  # fmt: skip
    assert copied == sorted(release)
    assert all((project / runtime / name).read_text() == text for name, text in release.items())
    assert migrations.replace_runtime(context, source) is None, "not idempotent"


def test_a_project_on_a_published_runtime_has_no_folder_to_replace(tmp_path: Path) -> None:
    project = _project_with_history(tmp_path / "p", {"README.md": "x\n"}, "_commit: v1.0.0\n")
    assert migrations.replace_runtime(_context(project, None), tmp_path) is None
    assert not (project / "packages").exists()


# --- two releases of this template, and a project updated from one to the other -----------


def release_2_1(template: Path) -> None:
    """A template change a 3-way merge alone cannot carry (a rename) next to ones it can."""
    package = template / PROJECT_TEMPLATE / "src/{{ cookiecutter.package_name }}"
    for variant in package.glob("*pipeline.py*"):  # one file per problem type
        renamed = variant.with_name(variant.name.replace("pipeline.py", "model_pipeline.py"))
        variant.rename(renamed)
        replace_once(renamed, r'\A""".*"""$',
                     '"""The model pipeline: scikit-learn preprocessing and estimator in one ``Pipeline``."""')  # fmt: skip
    replacements = {"from .pipeline import": "from .model_pipeline import",
                    "{{ cookiecutter.package_name }}.pipeline import":
                    "{{ cookiecutter.package_name }}.model_pipeline import"}  # fmt: skip
    for path in (template / PROJECT_TEMPLATE).rglob("*"):
        if path.is_file() and not path.is_symlink():
            text = path.read_text()
            for old_import, new_import in replacements.items():
                text = text.replace(old_import, new_import)
            path.write_text(text)
    replace_once(
        template / "hooks/migrations.py",
        r"(?s)^(STEPS: tuple\[MoveFile \| RenameAnswer, \.\.\.\] = \(\n.*?)^\)$",
        r'\1    MoveFile("2.1.0", "src/{package_name}/pipeline.py",'
        ' "src/{package_name}/model_pipeline.py"),\n)',
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
    commit_all(template, "Rename pipeline.py to model_pipeline.py, add a CI job, raise numpy")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A template repository with two releases: v2.0.0 (this checkout) and v2.1.0."""
    repository = copy_working_tree(tmp_path_factory.mktemp("template"))
    git(repository, "tag", "v2.0.0")
    release_2_1(repository)
    git(repository, "tag", "v2.1.0")
    return repository


def generate(template: Path, destination: Path, release: str = "v2.0.0") -> Path:
    """A project made from a release, with the tasks: locked, formatted, committed."""
    copier.run_copy(
        str(template), destination, defaults=True, unsafe=True, quiet=True, vcs_ref=release
    )
    assert git(destination, "status", "--porcelain") == ""
    return destination


def update(project: Path, release: str = "v2.1.0") -> None:
    copier.run_update(
        project, overwrite=True, unsafe=True, defaults=True, quiet=True, vcs_ref=release,
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
        "current_version": "2.0.0",
        "latest_version": "2.1.0",
    }
    capfd.readouterr()

    update(project)
    output = capfd.readouterr().err
    moved = f"migration 2.1.0: moved {OLD_MODULE} to {NEW_MODULE}, with your edits"
    assert output.count(moved) == 1, output
    assert leftovers(project) == []

    # The template's changes arrived ...
    assert not (project / OLD_MODULE).exists()
    estimator = (project / NEW_MODULE).read_text()
    assert estimator.startswith('"""The model pipeline: scikit-learn preprocessing')
    assert ".model_pipeline import" in (project / f"src/{PACKAGE}/project.py").read_text()
    workflow = yaml.safe_load((project / WORKFLOW).read_text())
    assert workflow["jobs"]["lock"]["steps"][-1] == {"run": "uv lock --check"}
    pyproject = (project / "pyproject.toml").read_text()
    assert '"numpy>=2.1,<3"' in pyproject
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == "v2.1.0"
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
                    vcs_ref="v2.1.0", skip_tasks=True)  # fmt: skip
    differing = {
        str(path.relative_to(fresh))
        for path in fresh.rglob("*")
        if path.is_file() and path.read_bytes() != (project / path.relative_to(fresh)).read_bytes()
    }
    assert differing == {"README.md", "pyproject.toml", NEW_MODULE, "notebooks/explore.ipynb"}

    # Updating again to the same release changes nothing and runs no migration.
    commit_all(project, "Update to v2.1.0")
    assert check_update(project)["update_available"] is False
    update(project)
    assert "migration 2.1.0" not in capfd.readouterr().err
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


# --- across the restructure: from the last release of the flat layout to this checkout ------

LAST_FLAT_RELEASE = "858d308"  # Release 1.0.0: the tree at the top, all code in src/.
GENERIC_PACKAGES = ("core", "io", "jobs", "service", "cli")  # In the runtime since 2.0.0.
TUNED_1 = """    return {
        "C": 0.5,
        "class_weight": "balanced",
        "max_iter": 1000,
        "random_state": random_seed,
    }
"""


@pytest.fixture(scope="module")
def restructured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A template repository with v1.0.0 (LAST_FLAT_RELEASE) and v2.0.0 (this checkout)."""
    known = subprocess.run(
        ["git", "-C", str(TEMPLATE_ROOT), "cat-file", "-e", f"{LAST_FLAT_RELEASE}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if known.returncode != 0:
        pytest.fail(f"commit {LAST_FLAT_RELEASE} (release 1.0.0) is not in this clone: "
                    "`git fetch --unshallow` brings the history")  # fmt: skip
    working_tree = copy_working_tree(tmp_path_factory.mktemp("working-tree"))
    repository = tmp_path_factory.mktemp("restructured")
    git(repository, "clone", "--quiet", "--no-tags", str(TEMPLATE_ROOT), ".")
    git(repository, "checkout", "--quiet", "-B", "main", LAST_FLAT_RELEASE)
    git(repository, "tag", "v1.0.0")
    git(repository, "fetch", "--quiet", str(working_tree), "main")
    git(repository, "read-tree", "-u", "--reset", "FETCH_HEAD")  # Tree, index, files: v2's.
    commit_all(repository, "The runtime package; the project tree under template/")
    git(repository, "tag", "v2.0.0")
    return repository


def project_files(project: Path) -> set[str]:
    """The files of the project that git sees (tracked and not deleted, or new)."""
    listed = git(project, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return {name for name in listed.split("\0") if name and (project / name).is_file()}


@pytest.mark.full
def test_update_across_the_restructure_keeps_the_users_edits_and_brings_the_runtime(
    restructured: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = generate(restructured, tmp_path / "project", "v1.0.0")
    old_pipeline, pipeline = f"src/{PACKAGE}/core/pipeline.py", f"src/{PACKAGE}/pipeline.py"
    replace_once(project / old_pipeline, r'^    return \{"C": 1\.0, .*\}\n', TUNED_1)
    replace_once(project / "README.md", r"\A(# .*\n\n.*\n)", rf"\1\n{README_NOTE}")
    commit_all(project, "Tune the model, write a note")
    capfd.readouterr()

    update(project, "v2.0.0")
    output = capfd.readouterr().err
    assert f"migration 2.0.0: moved {old_pipeline} to {pipeline}, with your edits" in output
    assert "kept " not in output, output  # No generic module had been edited.
    assert leftovers(project) == []
    # The user's edits survived, the pipeline's in its new place, with the template's changes.
    merged = (project / pipeline).read_text()
    assert TUNED_1.replace("random_seed", "settings.random_seed") in merged
    assert "def hyperparameters(settings: Settings)" in merged
    assert README_NOTE in (project / "README.md").read_text()
    # The runtime arrived and the modules it replaces left src/, as did their tests.
    assert (project / "packages/data-product-runtime/pyproject.toml").is_file()
    for name in GENERIC_PACKAGES:
        assert not (project / f"src/{PACKAGE}/{name}").exists(), f"src/{PACKAGE}/{name} is left"
    assert not (project / "tests/test_registry.py").exists()
    # File for file, a project freshly made from v2.0.0, apart from the user's two edits (and
    # the lock, which keeps the user's pins).
    fresh = generate(restructured, tmp_path / "fresh", "v2.0.0")
    assert project_files(project) == project_files(fresh)
    differing = {
        name
        for name in project_files(fresh)
        if (fresh / name).read_bytes() != (project / name).read_bytes()
    }
    assert differing - {"uv.lock"} == {"README.md", pipeline}

    run(["uv", "lock", "--check"], project)
    run(["uv", "run", "--locked", "nox"], project)


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
    # Least privilege: nothing by default, the job what it needs, and the step that runs the
    # template's code (`copier update --trust`) without the token (checkout keeps none either).
    assert parsed["permissions"] == {}
    job = parsed["jobs"]["update"]
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    steps = {step.get("name") or step["uses"].split("@")[0]: step for step in job["steps"]}
    assert steps["actions/checkout"]["with"]["persist-credentials"] is False
    update = steps["Update on a branch"]
    assert "update --trust --defaults --conflict inline" in update["run"]
    assert "GH_TOKEN" not in json.dumps(update)
    assert "--draft" in steps["Push the branch and open a pull request"]["run"]
    # zizmor runs over every generated workflow in test_artifacts.


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
