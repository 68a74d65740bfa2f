"""Every check of the project, each in its own session: ``uv run nox`` runs them all."""

import os
import shutil
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "typecheck", "tests", "quality", "build"]

PROJECT = "{{ cookiecutter.project_slug }}"
# The prefix of the project's settings in the environment (src/<package>/settings.py).
PREFIX = "{{ cookiecutter.package_name | upper }}_"


def sync(session: nox.Session, *groups: str, project: bool = True) -> None:
    """Install exactly what uv.lock pins (the given dependency groups) into the session."""
    options = [f"--group={group}" for group in groups]
    if not project:
        options.append("--no-install-project")
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--no-default-groups",
        *options,
        f"--python={session.virtualenv.location}",
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint rules and formatting."""
    sync(session, "lint", project=False)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy in strict mode over the package, the tests and this file."""
    sync(session, "typecheck")
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite with branch coverage and its threshold (pyproject.toml)."""
    sync(session, "test")
    session.run("pytest", "--cov", "--cov-report=term", *session.posargs)


@nox.session
def quality(session: nox.Session) -> None:
    """Quality gate: train a candidate; fail if it is worse than production (README)."""
    sync(session)
    # A throwaway registry unless the environment names the team's own (a folder or MLflow).
    registry = os.environ.get(f"{PREFIX}MODEL_DIR") or str(Path(session.create_tmp()) / "models")
    backend = "mlflow" if os.environ.get(f"{PREFIX}MLFLOW_TRACKING_URI") else "local"
    environment = {f"{PREFIX}MODEL_DIR": registry, f"{PREFIX}REGISTRY_BACKEND": backend}
    session.run(PROJECT, "train", env=environment)
    report = str(Path(session.create_tmp()) / "report")
    session.run(PROJECT, "evaluate", "--against", "production", "--output", report, env=environment)


@nox.session
def bench(session: nox.Session) -> None:
    """Serving benchmark against a Flask + pandas reference (not in the default run)."""
    sync(session, "bench")
    session.run("python", "benchmarks/serving.py", *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """Wheels and sdists of the project and its runtime; the wheels install with their locked
    dependencies and the command runs."""
    dist = Path(session.create_tmp()) / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("uv", "build", "--all-packages", "--out-dir", str(dist), external=True)
    wheels = sorted(str(wheel) for wheel in dist.glob("*.whl"))
    requirements = dist / "requirements.txt"
    session.run(
        "uv", "export", "--locked", "--no-default-groups", "--no-emit-workspace",
        f"--output-file={requirements}", external=True, silent=True,
    )  # fmt: skip
    session.install("-r", str(requirements))
    session.install("--no-deps", *wheels)
    session.run(PROJECT, "--help", silent=True)
    session.run(PROJECT, "--version")
