"""Quick tier: render every answer set and check the tree, without running the projects."""

from __future__ import annotations

import ast
import filecmp
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

import shared_ci
from answers import (
    BAD_ANSWERS,
    TEMPLATE_ROOT,
    Answers,
    answer_set_id,
    defaults,
    is_asked,
    pairwise_answer_sets,
)
from conftest import render
from template_questions import VENDORED_RUNTIME

ANSWER_SETS = pairwise_answer_sets()
PACKAGE = "data_product"


@pytest.fixture(scope="module", params=ANSWER_SETS, ids=[answer_set_id(a) for a in ANSWER_SETS])
def rendered(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Answers, Path]:
    answers: Answers = request.param
    return answers, render(tmp_path_factory.mktemp("project"), answers)


def expected_optional_paths(answers: Answers) -> dict[str, bool]:
    """Files that exist only for some answers: path -> whether these answers should have it."""
    return {
        ".github/workflows/ci.yml": answers["ci"] == "github",
        ".gitlab-ci.yml": answers["ci"] == "gitlab",
        "Dockerfile": answers["docker"],
        ".dockerignore": answers["docker"],
        ".github/zizmor.yml": answers["ci"] == "github" and answers.get("ci_style") == "shared",
    }


ALWAYS_PRESENT = [
    ".copier-answers.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    "renovate.json",
    "LICENSE",
    "README.md",
    "noxfile.py",
    "pyproject.toml",
    f"src/{PACKAGE}/__init__.py",
    f"src/{PACKAGE}/py.typed",
    f"src/{PACKAGE}/cli.py",
    f"src/{PACKAGE}/data.py",
    f"src/{PACKAGE}/pipeline.py",
    f"src/{PACKAGE}/project.py",
    f"src/{PACKAGE}/settings.py",
    "tests/test_model.py",
    "tests/test_end_to_end.py",
    f"{VENDORED_RUNTIME}/pyproject.toml",
    f"{VENDORED_RUNTIME}/src/data_product_runtime/service/app.py",
]


# The template writes Jinja as "{{ name }}". GitHub Actions expressions (${{ x }}), Go
# templates ({{.Field}}), Prometheus's {{ $labels.x }} and Grafana's {{label}} are not Jinja.
JINJA_MARKER = re.compile(r"(?<!\$)\{\{ (?!\$)|\{%|\{#(?!\w)")


def files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_expected_files_are_present_and_optional_ones_follow_the_answers(
    rendered: tuple[Answers, Path],
) -> None:
    answers, project = rendered
    for path in ALWAYS_PRESENT:
        assert (project / path).is_file(), path
    for path, wanted in expected_optional_paths(answers).items():
        assert (project / path).exists() == wanted, f"{path} should {'' if wanted else 'not '}exist"
    assert not list(project.rglob("*.jinja")), "a template suffix survived rendering"


def test_no_unrendered_jinja_is_left(rendered: tuple[Answers, Path]) -> None:
    _, project = rendered
    for path in files(project):
        text = path.read_text()
        leftovers = JINJA_MARKER.findall(text)
        assert not leftovers, f"unrendered Jinja {leftovers} in {path.relative_to(project)}"
        assert path.name == path.name.strip()
        assert "{" not in str(path.relative_to(project))


def test_answers_file_records_the_answers(rendered: tuple[Answers, Path]) -> None:
    answers, project = rendered
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert recorded["_src_path"]
    for name, value in answers.items():
        if is_asked(name, answers):
            assert recorded[name] == value, name


def test_python_files_parse_and_yaml_toml_files_load(rendered: tuple[Answers, Path]) -> None:
    _, project = rendered
    for path in files(project):
        if path.suffix == ".py":
            ast.parse(path.read_text(), filename=str(path))
        elif path.suffix in {".yml", ".yaml"}:
            yaml.safe_load(path.read_text())
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text())


SPDX = {
    "MIT": "MIT",
    "Apache-2.0": "Apache-2.0",
    "BSD-3-Clause": "BSD-3-Clause",
    "Proprietary": "LicenseRef-Proprietary",
}
LICENSE_FIRST_WORDS = {
    "MIT": "MIT License",
    "Apache-2.0": "Apache License",
    "BSD-3-Clause": "BSD 3-Clause License",
    "Proprietary": "Copyright (c)",
}


def test_pyproject_follows_the_answers(rendered: tuple[Answers, Path]) -> None:
    answers, project = rendered
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    metadata = pyproject["project"]
    assert metadata["license"] == SPDX[answers["license"]]
    assert metadata["requires-python"] == f">={answers['python_version']}"
    assert pyproject["tool"]["mypy"]["python_version"] == answers["python_version"]
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + answers["python_version"].replace(
        ".", ""
    )
    assert ("Private :: Do Not Upload" in metadata["classifiers"]) == (
        answers["license"] == "Proprietary"
    )
    assert (
        (project / "LICENSE")
        .read_text()
        .lstrip()
        .startswith(LICENSE_FIRST_WORDS[answers["license"]])
    )


ESTIMATORS = {
    "linear": ("LogisticRegression", "Ridge"),
    "hist_gradient_boosting": ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor"),
    "random_forest": ("RandomForestClassifier", "RandomForestRegressor"),
    "lightgbm": ("LGBMClassifier", "LGBMRegressor"),
    "xgboost": ("XGBClassifier", "XGBRegressor"),
}


def test_problem_type_and_model_family_select_the_estimator(
    rendered: tuple[Answers, Path],
) -> None:
    answers, project = rendered
    pipeline = (project / f"src/{PACKAGE}/pipeline.py").read_text()
    classifier, regressor = ESTIMATORS[str(answers["model_family"])]
    estimator = classifier if answers["problem_type"] == "classification" else regressor
    assert f"{estimator}(**hyperparameters)" in pipeline
    assert sum(name in pipeline for pair in ESTIMATORS.values() for name in pair) == 1
    declared = (project / f"src/{PACKAGE}/project.py").read_text()
    assert f'problem_type="{answers["problem_type"]}"' in declared


def test_the_runtime_arrives_unchanged(rendered: tuple[Answers, Path]) -> None:
    """Copier renders every file, the runtime's too: they must hold no Jinja, so that the
    project's copy is byte for byte the tested source in runtime/."""
    _, project = rendered
    source = TEMPLATE_ROOT / "runtime"
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=source, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    copied = sorted(
        str(path.relative_to(project / VENDORED_RUNTIME))
        for path in (project / VENDORED_RUNTIME).rglob("*")
        if path.is_file()
    )
    assert copied == sorted(tracked)
    for name in tracked:
        assert (project / VENDORED_RUNTIME / name).read_bytes() == (source / name).read_bytes()


def test_rendering_twice_gives_the_same_tree(tmp_path: Path) -> None:
    first = render(tmp_path / "first")
    second = render(tmp_path / "second")
    comparison = filecmp.dircmp(first, second)
    assert not comparison.left_only
    assert not comparison.right_only
    for path in files(first):
        twin = second / path.relative_to(first)
        if path.name == ".copier-answers.yml" and template_is_dirty():
            # Copier commits uncommitted template changes afresh for each render: _commit differs.
            assert _without_commit(path) == _without_commit(twin)
        else:
            assert path.read_bytes() == twin.read_bytes(), path


def template_is_dirty() -> bool:
    status = subprocess.run(
        ["git", "status", "--porcelain"],
        cwd=TEMPLATE_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return bool(status.stdout.strip())


def _without_commit(answers_file: Path) -> dict[str, object]:
    recorded: dict[str, object] = yaml.safe_load(answers_file.read_text())
    recorded.pop("_commit", None)
    return recorded


def test_names_derive_from_the_project_name(tmp_path: Path) -> None:
    project = render(tmp_path / "p", {"project_name": "Churn Model 2"})
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert (recorded["project_slug"], recorded["package_name"]) == (
        "churn-model-2",
        "churn_model_2",
    )
    assert (project / "src/churn_model_2/cli.py").is_file()
    assert 'churn-model-2 = "churn_model_2.cli:app"' in (project / "pyproject.toml").read_text()
    assert "CHURN_MODEL_2_" in (project / "src/churn_model_2/settings.py").read_text()


@pytest.mark.parametrize(
    ("question", "value", "message"), BAD_ANSWERS, ids=[f"{q}={v!r}" for q, v, _ in BAD_ANSWERS]
)
def test_bad_answers_are_refused_with_a_message(
    tmp_path: Path, question: str, value: str, message: str
) -> None:
    destination = tmp_path / "refused"
    with pytest.raises(ValueError, match=message) as refusal:
        render(destination, {question: value})
    assert question in str(refusal.value)
    assert not destination.exists() or not any(destination.iterdir()), "a refused answer left files"


def test_the_defaults_are_valid_answers() -> None:
    assert defaults()["license"] == "MIT"


UV_PINS = {
    "Dockerfile": r"ghcr\.io/astral-sh/uv:([\d.]+)",
    ".github/workflows/ci.yml": r'astral-sh/setup-uv@\S+  # v[\d.]+\n\s+with:\n(?:\s+.*\n)*?\s+version: "([\d.]+)"',
    ".gitlab-ci.yml": r"uv==([\d.]+)",
}


def test_every_generated_file_pins_the_same_uv_as_the_template_ci(tmp_path: Path) -> None:
    """uv's version is written in several files; they must move together."""
    versions = {".ci/run": re.findall(r"uv==([\d.]+)", (TEMPLATE_ROOT / ".ci/run").read_text())}
    for answers in ({"ci": "github", "docker": True}, {"ci": "gitlab"}):
        project = render(tmp_path / str(answers["ci"]), answers)
        for path, pattern in UV_PINS.items():
            if (project / path).exists():
                versions[path] = re.findall(pattern, (project / path).read_text())
    assert set(versions) == {".ci/run", *UV_PINS}
    assert all(len(found) == 1 for found in versions.values()), versions
    assert len({found[0] for found in versions.values()}) == 1, versions


# `owner/name@<commit>  # v1.2.3`: what Renovate's pinGitHubActionDigests keeps current.
PINNED_ACTION = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}  # v\d+\.\d+\.\d+$")


def test_every_action_is_pinned_by_commit_the_same_everywhere(tmp_path: Path) -> None:
    """Workflow steps name actions by commit SHA (a tag can be moved; zizmor's unpinned-uses),
    and one action is at one commit in the generated workflows and the published shared CI."""
    workflows = [TEMPLATE_ROOT / shared_ci.GITHUB_WORKFLOW]
    for style in ("inline", "shared"):
        project = render(tmp_path / style, {"ci": "github", "ci_style": style})
        workflows += sorted((project / ".github/workflows").glob("*.yml"))
    commits: dict[str, set[str]] = {}
    for workflow in workflows:
        for uses in re.findall(r"^\s*(?:- )?uses: (.+)$", workflow.read_text(), re.MULTILINE):
            if "/.github/workflows/data-product.yml@ci-v" in uses:
                continue  # the team's shared CI, at its major tag on purpose (docs/teams.md)
            assert PINNED_ACTION.match(uses), f"{workflow.name}: {uses} is not pinned by commit"
            commits.setdefault(uses.split("@")[0], set()).add(uses.split("@")[1])
    assert set(commits) == {"actions/checkout", "actions/setup-python", "astral-sh/setup-uv"}
    assert all(len(pins) == 1 for pins in commits.values()), commits
