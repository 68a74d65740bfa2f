"""The template's own checks. `nox` runs them all; `nox -s quick` is the fast tier."""

from __future__ import annotations

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "quick", "docs", "full"]


def sync(session: nox.Session, group: str) -> None:
    """Install the dependency group pinned in uv.lock into the session's environment."""
    session.run_install(
        "uv", "sync", "--locked", "--only-group", group,
        f"--python={session.virtualenv.location}",
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )  # fmt: skip


@nox.session
def lint(session: nox.Session) -> None:
    """ruff and strict mypy over the runtime, the hooks, the tests and this file."""
    sync(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    # The runtime and its tests, with the runtime's settings (its pyproject.toml); they import
    # their own helpers and tests/browser.py.
    runtime_tests = "tests/runtime"
    session.run(
        "mypy", "--config-file=runtime/pyproject.toml", "runtime/src", runtime_tests,
        env={"MYPYPATH": f"{runtime_tests}:tests"},
    )  # fmt: skip


@nox.session
def quick(session: nox.Session) -> None:
    """The runtime's tests; render every answer set and check the trees and the refusals."""
    sync(session, "test")
    # One worker per core: renders and the runtime's tests are independent of one another.
    session.run("pytest", "-m", "not full", "--numprocesses=auto", *session.posargs)


def docs_assets(session: nox.Session) -> None:
    """The docs site's browser code (Mermaid), pinned in docs/assets/package-lock.json."""
    npm = ["npm", "ci", "--prefix", "docs/assets", "--no-audit", "--no-fund", "--silent"]
    session.run_install(*npm, external=True)


@nox.session
def full(session: nox.Session) -> None:
    """Generate projects, run their own checks, and prove their artifacts with real tools."""
    sync(session, "test")
    docs_assets(session)  # the pages' tests build and open the docs site
    session.run("pytest", "-m", "full", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site strictly: a broken link or missing page fails (build/docs)."""
    sync(session, "docs")
    docs_assets(session)
    session.run("mkdocs", "build", "--strict", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(name="render")
def render_defaults(session: nox.Session) -> None:
    """Render the defaults into the folder given after `--` (default: ./build/data-product)."""
    sync(session, "render")
    destination = session.posargs[0] if session.posargs else "build/data-product"
    session.run("copier", "copy", "--trust", "--defaults", "--vcs-ref=HEAD", ".", destination)
