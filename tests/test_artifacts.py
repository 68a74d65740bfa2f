"""Full tier: every generated artifact is run by the real tool that will consume it.

- Dockerfile: hadolint, then podman builds the image, runs it, waits for its HEALTHCHECK and
  calls the service; the image runs as a non-root user and holds only the runtime
  dependencies of uv.lock and the trained model.
- GitHub Actions: actionlint and the workflow JSON schema, then `act` runs every job on this
  machine, with stand-ins for the remote actions (tests/stand-ins/).
- GitLab CI: the pipeline JSON schema, then `gitlab-ci-local` runs every job.
- pre-commit: the hooks pass on a fresh project and catch a lint error and a type error.
- Packaging judges: validate-pyproject over pyproject.toml, twine and check-wheel-contents
  over the built distribution.

Every test prints how long it took (`pytest -rA` shows it); the image test prints its size.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

import shared_ci
from answers import TEMPLATE_ROOT, defaults
from conftest import commit_all, render, run
from tools import (
    ContainerEngine,
    docker_api,
    health_checks_scheduled,
    project_container_engine,
    running_image,
    tool,
)

pytestmark = pytest.mark.full

STAND_INS = Path(__file__).resolve().parent / "stand-ins"
# The one container in CI jobs, named by the workflow and the pipeline.
CI_CONTAINER = "service"


@pytest.fixture(autouse=True)
def _report_duration(
    request: pytest.FixtureRequest, record_property: Any
) -> Iterator[None]:  # record_property is pytest's untyped callable fixture
    start = time.monotonic()
    yield
    elapsed = time.monotonic() - start
    record_property("duration_s", round(elapsed, 1))
    print(f"\n[artifact proof] {request.node.name}: {elapsed:.1f} s")


@pytest.fixture(scope="module")
def engine() -> ContainerEngine:
    return project_container_engine()


def _runner_env(env: dict[str, str], *prepend: Path) -> dict[str, str]:
    """The environment of a CI runner: none of this test run's virtual environment."""
    venv = env.get("VIRTUAL_ENV", sys.prefix)
    path = [p for p in env["PATH"].split(os.pathsep) if not p.startswith(venv)]
    runner = {k: v for k, v in env.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    return {**runner, "PATH": os.pathsep.join([*map(str, prepend), *path])}


def _slug(project: Path) -> str:
    return str(yaml.safe_load((project / ".copier-answers.yml").read_text())["project_slug"])


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked_runtime_packages(project: Path) -> set[str]:
    exported = run(
        ["uv", "export", "--locked", "--no-default-groups", "--no-emit-project",
         "--no-hashes", "--no-header", "--no-annotate", "--format=requirements-txt"],
        project,
    ).stdout  # fmt: skip
    return {_normalise(line.split("==")[0]) for line in exported.splitlines() if "==" in line}


def _http(url: str, body: dict[str, Any] | None = None) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 (loopback http URLs built by the test)
        url, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


# --- Dockerfile --------------------------------------------------------------------------


def test_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    project = render(tmp_path / "project")
    # `style` is hadolint's lowest level: any finding at all fails the test.
    run([tool("hadolint"), "--failure-threshold", "style", "Dockerfile"], project)


def test_image_builds_runs_healthy_as_non_root_with_runtime_dependencies_only(
    tmp_path: Path, engine: ContainerEngine
) -> None:
    project = render(tmp_path / "project", tasks=True)
    with running_image(engine, project) as running:
        image, container, base = running.image, running.container, running.url
        status, body = _http(f"{base}/health")
        assert status == 200, body
        version = json.loads(_http(f"{base}/models")[1])[0]["model_version"]
        schema = json.loads(_http(f"{base}/openapi.json")[1])["components"]["schemas"]
        record = dict.fromkeys(schema["Features"]["required"], 1.0)
        status, body = _http(f"{base}/predict", {"features": record})
        assert status == 200, body
        assert json.loads(body)["model_version"] == version
        status, body = _http(f"{base}/predict", {"features": {}})
        assert status == 422, body
        status, metrics = _http(f"{base}/metrics")
        assert status == 200
        counted = (
            "model_predictions_total{"
            + f'model_version="{version}",role="variant",variant="main"'
            + "}"
        )
        assert f"{counted} 1.0" in metrics

        assert engine.podman("exec", container, "id", "-u").stdout.strip() != "0"
        assert engine.podman("inspect", "--format={{.Config.User}}", image).stdout.strip() not in {
            "", "0", "root", "0:0"
        }  # fmt: skip

        listing = engine.podman(
            "run", "--rm", "--entrypoint=python", image, "-c",
            "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'] for d in m.distributions()))",
        ).stdout  # fmt: skip
        installed = {_normalise(name) for name in listing.split()}
        assert not installed & {"pytest", "ruff", "mypy", "nox", "pre-commit", "coverage"}
        # Only what uv.lock pins (some pins only apply on other platforms), the project and the
        # runtime it carries (a workspace member, which the lock names by path, not by pin).
        assert installed - _locked_runtime_packages(project) == {
            _slug(project),
            "data-product-runtime",
        }

        stray = engine.podman(
            "run", "--rm", "--user=0", "--entrypoint=find", image, "/", "-xdev",
            "(", "-path", "/proc", "-o", "-path", "/sys", "-o", "-path", "/opt/venv/lib",
            "-o", "-path", "/usr/lib", "-o", "-path", "/usr/share", ")", "-prune", "-o",
            "(", "-name", ".git", "-o", "-name", "tests", "-o", "-name", "uv.lock",
            "-o", "-name", "noxfile.py", "-o", "-name", "pyproject.toml", ")", "-print",
        ).stdout  # fmt: skip
        assert stray.split() == []
        repositories = engine.podman("run", "--rm", "--user=0", "--entrypoint=find", image, "/", "-xdev",
                                     "-name", ".git").stdout  # fmt: skip
        assert repositories.split() == []
        package = engine.podman("run", "--rm", "--entrypoint=sh", image, "-c",
                                "ls /opt/venv/lib/python*/site-packages/data_product").stdout  # fmt: skip
        assert "tests" not in package.split()


# --- GitHub Actions ----------------------------------------------------------------------


def _zizmor_findings(target: Path) -> list[str]:
    """zizmor's findings at its default level, offline (its online audits need GitHub)."""
    audit = subprocess.run(
        [tool("zizmor"), "--offline", "--format=json", str(target)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert audit.returncode in {0, *range(10, 15)}, audit.stderr  # 1x: findings, by severity
    return [f"{finding['ident']}: {finding['desc']}" for finding in json.loads(audit.stdout)]


@pytest.mark.parametrize("style", ["inline", "shared"])
def test_github_workflow_passes_actionlint_zizmor_and_its_schema(
    tmp_path: Path, style: str
) -> None:
    project = render(tmp_path / "project", {"ci_style": style})
    # As generated: the shared CI is called at its major tag, which the project's zizmor
    # configuration allows for that repository only.
    assert _zizmor_findings(project) == []
    if style == "shared":
        assert _zizmor_findings(TEMPLATE_ROOT / shared_ci.GITHUB_WORKFLOW) == []
        _use_the_published_workflow(project)
    workflows = sorted(str(path.relative_to(project))
                       for path in (project / ".github/workflows").glob("*.yml"))  # fmt: skip
    assert ".github/workflows/ci.yml" in workflows
    run([tool("actionlint"), *workflows], project)
    run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *workflows],
        project)  # fmt: skip


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_renovate_configuration_passes_its_schema(tmp_path: Path, ci: str) -> None:
    project = render(tmp_path / "project", {"ci": ci})
    run([tool("check-jsonschema"), "--builtin-schema", "vendor.renovate", "renovate.json"],
        project)  # fmt: skip


def _use_the_published_workflow(project: Path) -> dict[str, Any]:
    """Call this checkout's published workflow as a local one: act cannot fetch from GitHub."""
    published = TEMPLATE_ROOT / shared_ci.GITHUB_WORKFLOW
    shutil.copy(published, project / shared_ci.GITHUB_WORKFLOW)
    caller = project / ".github/workflows/ci.yml"
    text, count = re.subn(r"uses: \S+/\.github/workflows/data-product\.yml@ci-v\d+",
                          f"uses: ./{shared_ci.GITHUB_WORKFLOW}", caller.read_text())  # fmt: skip
    assert count == 1
    caller.write_text(text)
    return cast(dict[str, Any], yaml.safe_load(published.read_text()))


def _expected_github_jobs(workflow: dict[str, Any]) -> list[str]:
    """Every job run, a matrix job once per combination (the workflow has one axis each)."""
    names = []
    for job_id, job in workflow["jobs"].items():
        matrix = job.get("strategy", {}).get("matrix", {})
        if not matrix:
            names.append(job.get("name", job_id))
            continue
        ((axis, values),) = matrix.items()
        names += [job["name"].replace(f"${{{{ matrix.{axis} }}}}", str(v)) for v in values]
    return names


@pytest.mark.parametrize("style", ["inline", "shared"])
def test_github_workflow_runs_green_under_act(
    tmp_path: Path, engine: ContainerEngine, style: str
) -> None:
    project = render(tmp_path / "project", {"ci_style": style}, tasks=True)
    if style == "shared":
        workflow = _use_the_published_workflow(project)
    else:
        workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    # Each remote action runs as its stand-in; checkout of the repository itself is act's own.
    actions = {
        step["uses"]
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "uses" in step and not step["uses"].startswith("actions/checkout@")
    }
    replacements = []
    for action in sorted(actions):
        stand_in = STAND_INS / action.split("@")[0].split("/")[1]
        assert (stand_in / "action.yml").is_file(), f"no stand-in for {action} in {STAND_INS}"
        replacements += ["--local-repository", f"{action}={stand_in}"]
    expected = _expected_github_jobs(workflow)

    tool("docker")  # the container job's client, talking to podman's Docker API
    with docker_api(engine, tmp_path) as env, health_checks_scheduled(engine, CI_CONTAINER):
        try:
            result = subprocess.run(
                [tool("act"), "push", "--workflows", ".github/workflows/ci.yml",
                 "-P", "ubuntu-latest=-self-hosted", *replacements,
                 "--var", f"PYTHON_IMAGE={engine.python_image}",
                 "--var", f"UV_IMAGE={engine.uv_image}"],
                cwd=project, env=_runner_env(env), stdin=subprocess.DEVNULL,
                capture_output=True, text=True, check=False,
            )  # fmt: skip
        finally:
            engine.remove(containers=(CI_CONTAINER,), images=(f"{_slug(project)}:ci",))
    log = result.stdout + result.stderr
    (tmp_path / "act.log").write_text(log)
    # act pads job names and numbers the jobs of a matrix: "[CI/nox -s lint-1     ]"; a job
    # of a called workflow is prefixed by the calling job: "[checks/data-product checks/...]".
    succeeded = sorted(
        name if name in expected else re.sub(r"-\d+$", "", name)
        for name in {
            m.strip() for m in re.findall(r"^\[[^\]]*/([^\]/]+)\] 🏁  Job succeeded$", log, re.M)
        }
    )
    assert result.returncode == 0, log[-20000:]
    assert succeeded == sorted(expected), log[-20000:]
    print(f"\n[artifact proof] act ran {len(succeeded)} jobs green: {', '.join(succeeded)}")


# --- GitLab CI ---------------------------------------------------------------------------

GITLAB = {"ci": "gitlab"}
# Top-level keys of .gitlab-ci.yml that are settings, not jobs.
GITLAB_KEYWORDS = {"default", "include", "stages", "variables", "workflow", "image", "services",
                   "cache", "before_script", "after_script"}  # fmt: skip


@pytest.mark.parametrize("style", ["inline", "shared"])
def test_gitlab_ci_passes_its_schema(tmp_path: Path, style: str) -> None:
    project = render(tmp_path / "project", {**GITLAB, "ci_style": style})
    run([tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci",
         "--data-transform", "gitlab-ci", ".gitlab-ci.yml"], project)  # fmt: skip


def _include_the_published_template(project: Path) -> None:
    """Include this checkout's published template as a local file: GitLab is not reachable."""
    (project / shared_ci.GITLAB_TEMPLATE).parent.mkdir(parents=True)
    shutil.copy(TEMPLATE_ROOT / shared_ci.GITLAB_TEMPLATE, project / shared_ci.GITLAB_TEMPLATE)
    pipeline = project / ".gitlab-ci.yml"
    text, count = re.subn(r"- project: \S+\n\s+ref: ci-v\d+\n\s+file: (\S+)\n",
                          r"- local: \1\n", pipeline.read_text())  # fmt: skip
    assert count == 1
    pipeline.write_text(text)
    commit_all(project, "the published template, included locally")


@pytest.mark.parametrize("style", ["inline", "shared"])
def test_gitlab_pipeline_runs_green_under_gitlab_ci_local(
    tmp_path: Path, engine: ContainerEngine, style: str
) -> None:
    """Every job: gitlab-ci-local runs each job that needs no service on its shell executor;
    the job that needs the docker:dind service has its script run by `sh`, as a shell
    executor would, with `docker` talking to podman instead of the dind service (which
    gitlab-ci-local starts as a container even in shell mode: no registry serves it here).

    The shell executor ignores `image:`; a fresh virtual environment of the project's Python
    stands in for the `python:<version>-slim` image, with uv preinstalled at the version the
    jobs pin (the jobs' own `pip install` then finds it: four jobs installing into one shared
    environment at once would race).
    """
    project = render(tmp_path / "project", {**GITLAB, "ci_style": style}, tasks=True)
    if style == "shared":
        _include_the_published_template(project)
    # The pipeline as GitLab sees it: includes merged, inputs interpolated, extends resolved.
    text = run([tool("gitlab-ci-local"), "--preview"], project).stdout
    pipeline = yaml.safe_load(text)
    listed = json.loads(run([tool("gitlab-ci-local"), "--list-json"], project).stdout)
    # The jobs a push pipeline runs (not the scheduled template update).
    pushed = {job["name"] for job in listed if job["when"] != "never"}
    jobs = {k: v for k, v in pipeline.items() if k in pushed and k not in GITLAB_KEYWORDS}
    with_services = sorted(name for name, job in jobs.items() if "services" in job)
    shell_jobs = sorted(name for name in jobs if name not in with_services)
    pins = set(re.findall(r'"uv==([^"]+)"', text))
    assert len(pins) == 1, f"the jobs must pin one uv version, found {pins}"

    python = tool(f"python{defaults()['python_version']}")
    image = tmp_path / "python-image"
    run([python, "-m", "venv", str(image)], tmp_path)
    run([str(image / "bin/python"), "-m", "pip", "install", "--quiet", f"uv=={pins.pop()}"],
        tmp_path)  # fmt: skip
    mirrors = {"PYTHON_IMAGE": engine.python_image, "UV_IMAGE": engine.uv_image}

    tool("docker")
    with docker_api(engine, tmp_path) as env, health_checks_scheduled(engine, CI_CONTAINER):
        try:
            result = subprocess.run(
                [tool("gitlab-ci-local"), "--force-shell-executor", "--shell-isolation",
                 *shell_jobs],
                cwd=project, env=_runner_env(env, image / "bin"),
                stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
            )  # fmt: skip
            service_jobs = {}
            for name in with_services:
                job = jobs[name]
                job_env = {**_runner_env(env), **job.get("variables", {}), **mirrors}
                script = subprocess.run(
                    [tool("sh"), "-e", "-c", "\n".join(job["script"])],
                    cwd=project, env=job_env, capture_output=True, text=True, check=False,
                )  # fmt: skip
                after = subprocess.run(
                    [tool("sh"), "-c", "\n".join(job.get("after_script", []))],
                    cwd=project, env=job_env, capture_output=True, text=True, check=False,
                )  # fmt: skip
                service_jobs[name] = (script, after)
        finally:
            engine.remove(containers=(CI_CONTAINER,), images=(f"{_slug(project)}:ci",))
    log = result.stdout + result.stderr
    (tmp_path / "gitlab-ci-local.log").write_text(log)
    passed = sorted(re.findall(r"^ PASS  (\S+)", log, re.M))
    assert result.returncode == 0, log[-20000:]
    assert passed == shell_jobs, log[-20000:]
    for name, (script, after) in service_jobs.items():
        output = (
            f"{script.stdout}{script.stderr}\n--- after_script ---\n{after.stdout}{after.stderr}"
        )
        assert script.returncode == 0, f"job {name} failed:\n{output[-20000:]}"
        assert after.returncode == 0, f"after_script of {name} failed:\n{output[-20000:]}"
    assert with_services == (["container"] if "container" in jobs else [])
    print(f"\n[artifact proof] gitlab-ci-local ran {', '.join(passed)} green; "
          f"sh ran {', '.join(with_services) or 'no job'} against podman")  # fmt: skip


# --- pre-commit --------------------------------------------------------------------------


def _pre_commit(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["uv", "run", "--locked", "pre-commit", "run", "--all-files", "--color=never"],
        cwd=project, capture_output=True, text=True, check=False,
    )  # fmt: skip


def _hook_results(output: str) -> dict[str, str]:
    """`ruff check....Passed` lines as {hook name: Passed|Failed|Skipped}."""
    return {
        match.group(1): match.group(2)
        for match in re.finditer(r"^(.+?)\.{2,}\(?.*?(Passed|Failed|Skipped)$", output, re.M)
    }


def test_pre_commit_passes_then_catches_lint_and_type_errors(tmp_path: Path) -> None:
    project = render(tmp_path / "project", tasks=True)
    package = (
        project
        / "src"
        / str(yaml.safe_load((project / ".copier-answers.yml").read_text())["package_name"])
    )
    clean = _pre_commit(project)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    results = _hook_results(clean.stdout)
    assert set(results.values()) <= {"Passed", "Skipped"}, clean.stdout
    assert {"ruff check", "ruff format", "mypy (strict)"} <= {
        hook for hook, outcome in results.items() if outcome == "Passed"
    }, clean.stdout

    # --all-files means every file git tracks: the broken files are staged, as in a commit.
    broken = package / "broken.py"
    broken.write_text('"""An unused import."""\n\nimport os\n')
    run(["git", "add", str(broken)], project)
    lint = _pre_commit(project)
    assert lint.returncode != 0, lint.stdout
    assert _hook_results(lint.stdout)["ruff check"] == "Failed", lint.stdout
    assert "F401" in lint.stdout

    broken.write_text('"""A type error."""\n\nCOUNT: int = "three"\n')
    run(["git", "add", str(broken)], project)
    typing = _pre_commit(project)
    assert typing.returncode != 0, typing.stdout
    results = _hook_results(typing.stdout)
    assert results["mypy (strict)"] == "Failed", typing.stdout
    assert results["ruff check"] == "Passed", typing.stdout
    assert "Incompatible types in assignment" in typing.stdout


# --- external judges ---------------------------------------------------------------------


def test_distribution_passes_packaging_judges(tmp_path: Path) -> None:
    project = render(tmp_path / "project", tasks=True)
    run([tool("validate-pyproject"), "pyproject.toml"], project)
    dist = tmp_path / "dist"
    run(["uv", "build", "--out-dir", str(dist)], project)
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    run([tool("twine"), "check", "--strict", str(wheel), str(sdist)], project)
    run([tool("check-wheel-contents"), str(wheel)], project)
